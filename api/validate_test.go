package api

import (
	"os"
	"strings"
	"testing"
)

// validationCases are golden tests: each object is decoded, defaulted and
// validated, and the problems must be exactly these lines.
var validationCases = []struct {
	kind, doc string
	want      []string
}{
	// ---- workloads ----
	{"Deployment", `
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: "nginx:1"}]`, []string{
		`deployment web: spec.selector: Required value: apps/v1 Deployments need a selector matching spec.template.metadata.labels`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: web, image: "nginx:1"}]`, []string{
		`deployment web: spec.template.metadata.labels: Invalid value: "app=api": does not match spec.selector (app=web); the template's labels must satisfy the selector`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  selector: {}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "nginx:1"}]}}`, []string{
		`deployment web: spec.selector: Invalid value: {}: an empty selector would select every pod; set spec.selector.matchLabels to the labels of spec.template.metadata.labels`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  replicas: -1
  selector: {matchLabels: {app: web}}
  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}
  minReadySeconds: 10
  progressDeadlineSeconds: 5
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Never
      containers:
      - name: web
        image: "nginx:1"
        resources:
          limits: {cpu: 200m, nvidia.com/gpu: 1}
          requests: {cpu: 500m, nvidia.com/gpu: 2, gpu: 1, example.com/dongle: 500m}`, []string{
		`deployment web: spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
		`deployment web: spec.template.spec.containers[0].resources.requests[example.com/dongle]: Invalid value: "500m": must be a whole number: extended resources cannot be split`,
		`deployment web: spec.template.spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be cpu, memory, ephemeral-storage or an extended resource with a domain prefix, such as nvidia.com/gpu`,
		`deployment web: spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: "500m": must be less than or equal to cpu limit of 200m`,
		`deployment web: spec.template.spec.containers[0].resources.requests[nvidia.com/gpu]: Invalid value: "2": must be equal to nvidia.com/gpu limit of 1 (extended resources cannot be overcommitted)`,
		`deployment web: spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`,
		`deployment web: spec.strategy.rollingUpdate: Forbidden: may not be set when strategy type is Recreate`,
		`deployment web: spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: "0%"}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "nginx:1"}]}}`, []string{
		`deployment web: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when maxSurge is 0: the update could never make progress`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  strategy: {type: BlueGreen}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "nginx:1"}]}}`, []string{
		`deployment web: spec.strategy.type: Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"`,
	}},
	{"Deployment", `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: "lots", maxUnavailable: "150%"}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "nginx:1"}]}}`, []string{
		`deployment web: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%`,
		`deployment web: spec.strategy.rollingUpdate.maxSurge: Invalid value: "lots": must be an integer or a percentage such as "25%"`,
	}},
	{"ReplicaSet", `
metadata: {name: rs}
spec:
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: "nginx:1"}]}}`, []string{
		`replicaset rs: spec.selector: Required value: apps/v1 ReplicaSets need a selector matching spec.template.metadata.labels`,
	}},
	{"DaemonSet", `
metadata: {name: ds}
spec:
  selector: {matchExpressions: [{key: app, operator: Equals, values: [ds]}, {key: tier, operator: In}]}
  updateStrategy: {type: OnDelete, rollingUpdate: {maxUnavailable: 1}}
  template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: agent, image: "a:1"}]}}`, []string{
		`daemonset ds: spec.selector.matchExpressions[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"`,
		`daemonset ds: spec.selector.matchExpressions[1].values: Required value: must be specified when operator is In or NotIn`,
		`daemonset ds: spec.updateStrategy.rollingUpdate: Forbidden: may not be set when updateStrategy type is OnDelete`,
	}},
	{"Job", `
metadata: {name: sweep}
spec:
  completionMode: Indexed
  backoffLimit: -1
  activeDeadlineSeconds: 0
  template:
    spec:
      containers: [{name: w, image: "w:1"}]`, []string{
		`job sweep: spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0`,
		`job sweep: spec.activeDeadlineSeconds: Invalid value: 0: must be greater than 0`,
		`job sweep: spec.template.spec.restartPolicy: Required value: Jobs need restartPolicy OnFailure or Never`,
	}},
	{"Job", `
metadata: {name: sweep}
spec:
  parallelism: 2
  completionMode: Indexed
  selector: {matchLabels: {app: sweep}}
  template:
    metadata: {labels: {app: sweep}}
    spec:
      restartPolicy: Always
      containers: [{name: w, image: "w:1"}]`, []string{
		`job sweep: spec.completions: Required value: an Indexed Job needs completions, the number of indexes`,
		`job sweep: spec.selector: Forbidden: shoal generates a Job's selector; leave it out, or set manualSelector: true to use your own`,
		`job sweep: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`,
	}},
	{"Job", `
metadata: {name: sweep}
spec:
  manualSelector: true
  template: {spec: {restartPolicy: Never, containers: [{name: w, image: "w:1"}]}}`, []string{
		`job sweep: spec.selector: Required value: manualSelector is true, so give a selector matching spec.template.metadata.labels`,
	}},
	{"CronJob", `
metadata: {name: nightly}
spec:
  schedule: "0 2 * *"
  timeZone: Mars/Olympus
  concurrencyPolicy: Sometimes
  successfulJobsHistoryLimit: -1
  jobTemplate: {spec: {template: {spec: {containers: [{name: b, image: "b:1"}]}}}}`, []string{
		`cronjob nightly: spec.schedule: Invalid value: "0 2 * *": expected 5 fields (minute hour day-of-month month day-of-week), found 4`,
		`cronjob nightly: spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone; use an IANA name such as Europe/Berlin or Etc/UTC`,
		`cronjob nightly: spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"`,
		`cronjob nightly: spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0`,
		`cronjob nightly: spec.jobTemplate.spec.template.spec.restartPolicy: Required value: Jobs need restartPolicy OnFailure or Never`,
	}},
	{"CronJob", `
metadata: {name: a-very-long-cronjob-name-that-does-not-fit-in-job-names}
spec:
  schedule: "CRON_TZ=UTC 0 2 * * *"
  timeZone: Local
  jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: b, image: "b:1"}]}}}}`, []string{
		`cronjob a-very-long-cronjob-name-that-does-not-fit-in-job-names: metadata.name: Invalid value: "a-very-long-cronjob-name-that-does-not-fit-in-job-names": must be no more than 52 characters, so that the names of its Jobs fit`,
		`cronjob a-very-long-cronjob-name-that-does-not-fit-in-job-names: spec.schedule: Invalid value: "CRON_TZ=UTC 0 2 * * *": cannot use TZ or CRON_TZ in schedule; use the timeZone field instead`,
		`cronjob a-very-long-cronjob-name-that-does-not-fit-in-job-names: spec.timeZone: Invalid value: "Local": must be an explicit IANA time zone such as Europe/Berlin or Etc/UTC`,
	}},
	{"CronJob", `
metadata: {name: ok}
spec:
  schedule: "*/5 9-17 * jan-jun MON-FRI"
  timeZone: Europe/Berlin
  jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: b, image: "b:1"}]}}}}`, nil},
	{"HorizontalPodAutoscaler", `
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  minReplicas: 0
  maxReplicas: 0
  metrics:
  - type: Resource
    resource: {name: gpu, target: {type: Value, value: "1"}}
  - type: Resource
    resource: {name: cpu, target: {type: Utilization}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: "0"}}
  - type: External
    external: {metric: {name: queue}, target: {type: Value, value: "1"}}
  - type: Nonsense`, []string{
		`horizontalpodautoscaler hpa: spec.scaleTargetRef.kind: Unsupported value: "StatefulSet": shoal scales only Deployments and ReplicaSets`,
		`horizontalpodautoscaler hpa: spec.minReplicas: Invalid value: 0: must be greater than or equal to 1`,
		`horizontalpodautoscaler hpa: spec.maxReplicas: Invalid value: 0: must be greater than or equal to 1`,
		`horizontalpodautoscaler hpa: spec.metrics[0].resource.name: Unsupported value: "gpu": supported values: "cpu", "memory"`,
		`horizontalpodautoscaler hpa: spec.metrics[0].resource.target.type: Unsupported value: "Value": supported values: "Utilization", "AverageValue"`,
		`horizontalpodautoscaler hpa: spec.metrics[0].resource.target.value: Forbidden: may not be set for a Resource metric; use averageValue`,
		`horizontalpodautoscaler hpa: spec.metrics[1].resource.target.averageUtilization: Required value: the target percentage of the pods' requests, such as 70`,
		`horizontalpodautoscaler hpa: spec.metrics[2].resource.target.averageValue: Invalid value: "0": must be greater than 0`,
		`horizontalpodautoscaler hpa: spec.metrics[3].type: Unsupported value: "External": shoal supports only type Resource (cpu or memory); External metrics are not supported yet`,
		`horizontalpodautoscaler hpa: spec.metrics[4].type: Unsupported value: "Nonsense": supported values: "Resource"`,
	}},
	{"HorizontalPodAutoscaler", `
metadata: {name: hpa}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  minReplicas: 5
  maxReplicas: 2`, []string{
		`horizontalpodautoscaler hpa: spec.maxReplicas: Invalid value: 2: must be greater than or equal to minReplicas`,
	}},
	// ---- pods ----
	{"Pod", `
metadata: {name: needs-volume}
spec:
  containers: [{name: app, image: "a:1", volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data-pvc}}]`, []string{
		`pod needs-volume: spec.volumes[0].persistentVolumeClaim: not supported yet (use hostPath or emptyDir)`,
	}},
	{"Pod", `
metadata: {name: p, labels: {"App Name": web, tier: "-x"}, annotations: {"a/b/c": x}}
spec:
  restartPolicy: Sometimes
  dnsPolicy: None
  hostname: Bad_Host
  nodeSelector: {disk: "s s d"}
  containers:
  - name: app
    image: ""
    imagePullPolicy: Sometimes
    restartPolicy: Always
    ports:
    - {name: http, containerPort: 80}
    - {name: http, containerPort: 70000, protocol: ICMP}
    - {name: a-very-long-port-name, containerPort: 81, hostPort: 8080}
    - {name: "8080", containerPort: 82}
    volumeMounts:
    - {name: missing, mountPath: data}
  - {name: app, image: "b:1", ports: [{containerPort: 90, hostPort: 8080}]}
  - {name: Bad_Name, image: "c:1"}`, []string{
		`pod p: metadata.labels: Invalid value: "App Name": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')`,
		`pod p: metadata.labels[tier]: Invalid value: "-x": a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')`,
		`pod p: metadata.annotations: Invalid value: "a/b/c": a qualified name has at most one '/', between an optional DNS subdomain prefix and the name (e.g. 'example.com/my-name')`,
		`pod p: spec.containers[0].image: Required value`,
		`pod p: spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`,
		`pod p: spec.containers[0].restartPolicy: Forbidden: may only be set on init containers (restartPolicy: Always makes one a sidecar)`,
		`pod p: spec.containers[0].ports[1].name: Duplicate value: "http"`,
		`pod p: spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		`pod p: spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`,
		`pod p: spec.containers[0].ports[2].name: Invalid value: "a-very-long-port-name": must be no more than 15 characters`,
		`pod p: spec.containers[0].ports[3].name: Invalid value: "8080": must contain at least one letter (a-z); write a port number without quotes`,
		`pod p: spec.containers[0].volumeMounts[0].name: Not found: "missing": add a volume named "missing" to spec.volumes`,
		`pod p: spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an absolute path`,
		`pod p: spec.containers[1].name: Duplicate value: "app"`,
		`pod p: spec.containers[1].ports[0].hostPort: Duplicate value: "8080/TCP"`,
		`pod p: spec.containers[2].name: Invalid value: "Bad_Name": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
		`pod p: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
		`pod p: spec.dnsPolicy: not supported yet (None needs dnsConfig; use ClusterFirst or Default)`,
		`pod p: spec.nodeSelector[disk]: Invalid value: "s s d": a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')`,
		`pod p: spec.hostname: Invalid value: "Bad_Host": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
	}},
	{"Pod", `
metadata: {name: p}
spec:
  initContainers:
  - {name: init, image: "i:1", readinessProbe: {exec: {command: ["true"]}}}
  - {name: side, image: "s:1", restartPolicy: OnFailure}
  - {name: sidecar, image: "s:1", restartPolicy: Always, readinessProbe: {tcpSocket: {port: 80}}}
  containers:
  - name: app
    image: "a:1"
    env:
    - {name: 1BAD, value: x}
    - {name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: B, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: C, valueFrom: {}}
    - {name: D, valueFrom: {configMapKeyRef: {key: "a b"}, secretKeyRef: {name: s, key: k}}}
    - {name: E, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    envFrom:
    - {prefix: "9", configMapRef: {name: c}}
    - {}
    livenessProbe: {httpGet: {port: 0, path: healthz}, tcpSocket: {port: http}, successThreshold: 2}
    readinessProbe: {periodSeconds: -1}
    startupProbe: {exec: {}, httpGet: {port: "no_such", scheme: FTP}}`, []string{
		`pod p: spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy: Always`,
		`pod p: spec.initContainers[1].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`,
		`pod p: spec.containers[0].env[0].name: Invalid value: "1BAD": a valid environment variable name must consist of letters, digits, '_', '-' or '.', and must not start with a digit (e.g. 'MY_VAR')`,
		`pod p: spec.containers[0].env[1].valueFrom: Forbidden: may not be set together with value; use one of them`,
		`pod p: spec.containers[0].env[2].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.uid": supported values: "metadata.name", "metadata.namespace", "metadata.labels['<key>']", "metadata.annotations['<key>']", "spec.nodeName", "status.hostIP", "status.podIP"`,
		`pod p: spec.containers[0].env[3].valueFrom: Required value: set one of fieldRef, configMapKeyRef or secretKeyRef`,
		`pod p: spec.containers[0].env[4].valueFrom.configMapKeyRef.name: Required value`,
		`pod p: spec.containers[0].env[4].valueFrom.configMapKeyRef.key: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', 'KEY_NAME' or 'key-name')`,
		`pod p: spec.containers[0].env[4].valueFrom: Forbidden: may not have more than one of fieldRef, configMapKeyRef and secretKeyRef`,
		`pod p: spec.containers[0].envFrom[0].prefix: Invalid value: "9": a valid environment variable name must consist of letters, digits, '_', '-' or '.', and must not start with a digit (e.g. 'MY_VAR')`,
		`pod p: spec.containers[0].envFrom[1]: Required value: set configMapRef or secretRef`,
		`pod p: spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive`,
		`pod p: spec.containers[0].livenessProbe.httpGet.path: Invalid value: "healthz": must be an absolute path such as /healthz`,
		`pod p: spec.containers[0].livenessProbe: Forbidden: may not have more than one of exec, httpGet and tcpSocket`,
		`pod p: spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1 for liveness and startup probes`,
		`pod p: spec.containers[0].readinessProbe: Required value: set exactly one of exec, httpGet or tcpSocket`,
		`pod p: spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0`,
		`pod p: spec.containers[0].startupProbe.exec.command: Required value: the command to run; exit status 0 is success`,
		`pod p: spec.containers[0].startupProbe.httpGet.port: Invalid value: "no_such": must contain only lower-case letters, digits and '-'`,
		`pod p: spec.containers[0].startupProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`,
		`pod p: spec.containers[0].startupProbe: Forbidden: may not have more than one of exec, httpGet and tcpSocket`,
	}},
	{"Pod", `
metadata: {name: p}
spec:
  containers:
  - name: app
    image: "a:1"
    volumeMounts:
    - {name: a, mountPath: /a, subPath: ../etc}
    - {name: a, mountPath: /a/}
  volumes:
  - {name: a, emptyDir: {medium: HugePages, sizeLimit: -1Mi}}
  - {name: a, hostPath: {path: var/log, type: Folder}}
  - {name: c, configMap: {items: [{key: k, path: /abs, mode: 0800}], defaultMode: -1}}
  - {name: d, secret: {secretName: s}, emptyDir: {}}
  - {name: e}
  - {name: Bad_Vol, secret: {items: [{key: "..k", path: a/../../b}]}}`, []string{
		`pod p: spec.volumes[0].emptyDir.medium: Unsupported value: "HugePages": supported values: "", "Memory"`,
		`pod p: spec.volumes[0].emptyDir.sizeLimit: Invalid value: "-1Mi": must be greater than or equal to 0`,
		`pod p: spec.volumes[1].name: Duplicate value: "a"`,
		`pod p: spec.volumes[1].hostPath.path: Invalid value: "var/log": must be an absolute path`,
		`pod p: spec.volumes[1].hostPath.type: Unsupported value: "Folder": supported values: "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"`,
		`pod p: spec.volumes[2].configMap.name: Required value: the name of the ConfigMap`,
		`pod p: spec.volumes[2].configMap.defaultMode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive`,
		`pod p: spec.volumes[2].configMap.items[0].path: Invalid value: "/abs": must be a relative path`,
		`pod p: spec.volumes[2].configMap.items[0].mode: Invalid value: 800: must be a number between 0 and 0777 (octal), both inclusive`,
		`pod p: spec.volumes[3]: Forbidden: may not have more than one volume type`,
		`pod p: spec.volumes[4]: Required value: set one of emptyDir, configMap, secret or hostPath`,
		`pod p: spec.volumes[5].name: Invalid value: "Bad_Vol": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
		`pod p: spec.volumes[5].secret.secretName: Required value: the name of the Secret`,
		`pod p: spec.volumes[5].secret.items[0].key: Invalid value: "..k": must not start with '..'`,
		`pod p: spec.volumes[5].secret.items[0].path: Invalid value: "a/../../b": must not contain '..'`,
		`pod p: spec.containers[0].volumeMounts[0].subPath: Invalid value: "../etc": must not contain '..'`,
		`pod p: spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a/": must be unique`,
	}},
	{"Pod", `
metadata: {name: p}
spec:
  containers: [{name: app, image: "a:1"}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disk, operator: Gt, values: [ssd]}
          - {key: zone, operator: Exists, values: [a]}
          matchFields:
          - {key: metadata.labels, operator: Exists}
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 0, preference: {matchExpressions: [{key: disk, operator: Near, values: [x]}]}}
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - {labelSelector: {matchLabels: {app: web}}, namespaces: [Prod]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 101, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}
  tolerations:
  - {operator: Equal, value: x}
  - {key: k, operator: Exists, value: v, effect: NoSchedule, tolerationSeconds: 5}
  - {key: k, operator: Like, effect: Sometimes}
  topologySpreadConstraints:
  - {maxSkew: 0, topologyKey: zone, whenUnsatisfiable: Maybe}
  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Maybe}
  - {maxSkew: 1, whenUnsatisfiable: DoNotSchedule}`, []string{
		`pod p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]: Invalid value: "ssd": must be an integer when operator is Gt or Lt`,
		`pod p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values: Forbidden: may not be specified when operator is Exists or DoesNotExist`,
		`pod p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key: Unsupported value: "metadata.labels": supported values: "metadata.name"`,
		`pod p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].operator: Unsupported value: "Exists": supported values: "In", "NotIn"`,
		`pod p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values: Required value: must have exactly one node name`,
		`pod p: spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100`,
		`pod p: spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].operator: Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"`,
		`pod p: spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]: Invalid value: "Prod": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
		`pod p: spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: a node label key such as kubernetes.io/hostname or topology.kubernetes.io/zone`,
		`pod p: spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100`,
		`pod p: spec.tolerations[0].operator: Invalid value: "Equal": must be Exists when key is empty (an empty key with Exists tolerates every taint)`,
		`pod p: spec.tolerations[1].effect: Invalid value: "NoSchedule": must be NoExecute when tolerationSeconds is set`,
		`pod p: spec.tolerations[1].value: Invalid value: "v": must be empty when operator is Exists`,
		`pod p: spec.tolerations[2].operator: Unsupported value: "Like": supported values: "Equal", "Exists"`,
		`pod p: spec.tolerations[2].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
		`pod p: spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero`,
		`pod p: spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"`,
		`pod p: spec.topologySpreadConstraints[1].whenUnsatisfiable: Unsupported value: "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"`,
		`pod p: spec.topologySpreadConstraints[1]: Duplicate value: "{zone, Maybe}"`,
		`pod p: spec.topologySpreadConstraints[2].topologyKey: Required value: a node label key such as topology.kubernetes.io/zone`,
	}},
	{"Pod", `{metadata: {name: p}, spec: {}}`, []string{
		`pod p: spec.containers: Required value: a pod needs at least one container`,
	}},
	{"Pod", `{metadata: {name: My_Pod, namespace: Prod}, spec: {containers: [{name: a, image: "a:1"}]}}`, []string{
		`pod My_Pod: metadata.name: Invalid value: "My_Pod": must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters (try "my-pod")`,
		`pod My_Pod: metadata.namespace: Invalid value: "Prod": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
	}},
	{"Pod", `{metadata: {}, spec: {containers: [{name: a, image: "a:1"}]}}`, []string{
		`pod: metadata.name: Required value: every object needs a name`,
	}},
	// ---- services and the rest ----
	{"Service", `
metadata: {name: 1web}
spec:
  type: NodePort
  clusterIP: 10.0.0.300
  selector: {app: "a b"}
  ports:
  - {port: 80, targetPort: 0}
  - {name: http, port: 0, protocol: HTTP, targetPort: "8080"}
  - {name: http, port: 80}`, []string{
		`service 1web: metadata.name: Invalid value: "1web": must be lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters`,
		`service 1web: spec.type: Unsupported value: "NodePort": not supported yet (shoal supports only ClusterIP Services, and headless ones with clusterIP: None)`,
		`service 1web: spec.clusterIP: Invalid value: "10.0.0.300": must be empty (one is allocated), "None" (headless) or an IP address`,
		`service 1web: spec.ports[0].name: Required value: every port needs a name when a Service has more than one port`,
		`service 1web: spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive`,
		`service 1web: spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"`,
		`service 1web: spec.ports[1].targetPort: Invalid value: "8080": must contain at least one letter (a-z); write a port number without quotes`,
		`service 1web: spec.ports[2].name: Duplicate value: "http"`,
		`service 1web: spec.ports[2]: Duplicate value: "80/TCP"`,
		`service 1web: spec.selector[app]: Invalid value: "a b": a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')`,
	}},
	{"Service", `{metadata: {name: db}, spec: {clusterIP: None, selector: {app: db}}}`, nil},
	{"Service", `{metadata: {name: db}, spec: {selector: {app: db}}}`, []string{
		`service db: spec.ports: Required value: a Service needs at least one port, unless it is headless (clusterIP: None)`,
	}},
	{"Endpoints", `
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.244.0.2, hostname: web-0, nodeName: n1, targetRef: {kind: Pod, namespace: default, name: web-0, uid: u1}}]
  notReadyAddresses: [{ip: 10.244.1.3}]
  ports: [{name: http, port: 8080}, {name: metrics, port: 9090, protocol: UDP}]`, nil},
	{"Endpoints", `
metadata: {name: web, namespace: default}
subsets:
- ports: [{port: 80}]
- addresses: [{ip: 10.244.0.300, hostname: Web_0, nodeName: N_1}]
  ports: [{port: 0, protocol: HTTP}, {name: a, port: 80}, {name: a, port: 81}]`, []string{
		`endpoints web: subsets[0].addresses: Required value: a subset needs addresses or notReadyAddresses`,
		`endpoints web: subsets[1].addresses[0].ip: Invalid value: "10.244.0.300": must be an IP address, such as 10.42.0.7`,
		`endpoints web: subsets[1].addresses[0].hostname: Invalid value: "Web_0": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
		`endpoints web: subsets[1].addresses[0].nodeName: Invalid value: "N_1": must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`,
		`endpoints web: subsets[1].ports[0].name: Required value: every port needs a name when a subset has more than one port`,
		`endpoints web: subsets[1].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`,
		`endpoints web: subsets[1].ports[0].protocol: Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"`,
		`endpoints web: subsets[1].ports[2].name: Duplicate value: "a"`,
	}},
	{"ConfigMap", `{metadata: {name: c}, data: {"a b": x, k: v}, binaryData: {k: dg==}}`, []string{
		`configmap c: data: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', 'KEY_NAME' or 'key-name')`,
		`configmap c: data[k]: Invalid value: "k": the key is also in binaryData; use each key once`,
	}},
	{"Secret", `{metadata: {name: tls}, type: kubernetes.io/tls, data: {tls.crt: eA==}}`, []string{
		`secret tls: data[tls.key]: Required value: a kubernetes.io/tls Secret needs the key "tls.key"`,
	}},
	{"Namespace", `{metadata: {name: a.b}}`, []string{
		`namespace a.b: metadata.name: Invalid value: "a.b": must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (try "a-b")`,
	}},
	{"Node", `{metadata: {name: n1, namespace: default}, spec: {podCIDR: 10.42.0.0, taints: [{key: k, effect: Never}, {key: k, effect: Never}]}, status: {capacity: {cpu: "-1"}}}`, []string{
		`node n1: metadata.namespace: Forbidden: Node objects are not namespaced; remove metadata.namespace`,
		`node n1: spec.podCIDR: Invalid value: "10.42.0.0": must be a CIDR such as 10.42.3.0/24`,
		`node n1: spec.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
		`node n1: spec.taints[1].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
		`node n1: spec.taints[1]: Duplicate value: "k:Never"`,
		`node n1: status.capacity[cpu]: Invalid value: "-1": must be greater than or equal to 0`,
		`node n1: status.allocatable[cpu]: Invalid value: "-1": must be greater than or equal to 0`,
	}},
	{"Event", `{metadata: {name: web.1, namespace: default}, involvedObject: {kind: Pod, namespace: prod}, type: Error}`, []string{
		`event web.1: involvedObject.name: Required value`,
		`event web.1: involvedObject.namespace: Invalid value: "prod": does not match the event's namespace "default"`,
		`event web.1: type: Unsupported value: "Error": supported values: "Normal", "Warning"`,
	}},
}

func TestValidateGolden(t *testing.T) {
	for i, c := range validationCases {
		obj := decodeYAML[Object](t, c.kind, c.doc)
		SetDefaults(obj)
		err := Validate(obj)
		var got []string
		if err != nil {
			if ReasonOf(err) != ReasonInvalid || AsStatus(err).Code != 422 {
				t.Errorf("case %d (%s): not an Invalid status: %#v", i, c.kind, err)
			}
			got = strings.Split(err.Error(), "\n")
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			if os.Getenv("SHOW_GOLDEN") != "" {
				for _, l := range got {
					t.Logf("\t\t`%s`,", l)
				}
			}
			t.Errorf("case %d (%s):\ngot:\n  %s\nwant:\n  %s", i, c.kind, strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
		}
	}
}
