package api

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var podRestartPolicies = []RestartPolicy{RestartPolicyAlways, RestartPolicyOnFailure, RestartPolicyNever}

func restartStrings(ps []RestartPolicy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// validatePodSpec checks a pod spec at path ("spec", "spec.template.spec").
// restart lists the restart policies the owner allows; hint says what to do
// when none is set.
func validatePodSpec(e *fieldErrors, p string, spec *PodSpec, restart []RestartPolicy, hint string) {
	volumes := validateVolumes(e, p+".volumes", spec.Volumes)
	if len(spec.Containers) == 0 {
		e.required(p+".containers", "a pod needs at least one container")
	}
	names := map[string]bool{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		validateContainer(e, idx(p+".initContainers", i), c, true, volumes, p+".volumes", names)
	}
	hostPorts := map[string]bool{}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		cp := idx(p+".containers", i)
		validateContainer(e, cp, c, false, volumes, p+".volumes", names)
		for j, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			id := fmt.Sprintf("%d/%s", port.HostPort, port.Protocol)
			if hostPorts[id] {
				e.duplicate(idx(cp+".ports", j)+".hostPort", id)
			}
			hostPorts[id] = true
		}
	}
	switch {
	case spec.RestartPolicy == "":
		if hint == "" {
			hint = "set one of " + strings.Join(restartStrings(restart), ", ")
		}
		e.required(p+".restartPolicy", hint)
	case !contains(restartStrings(restart), string(spec.RestartPolicy)):
		e.unsupported(p+".restartPolicy", string(spec.RestartPolicy), restartStrings(restart)...)
	}
	switch spec.DNSPolicy {
	case "", DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault:
	case DNSNone:
		e.add(p+".dnsPolicy", "not supported yet (None needs dnsConfig; use ClusterFirst or Default)")
	default:
		e.unsupported(p+".dnsPolicy", string(spec.DNSPolicy), string(DNSClusterFirst), string(DNSClusterFirstWithHostNet), string(DNSDefault))
	}
	if t := spec.TerminationGracePeriodSeconds; t != nil {
		e.nonNegative(p+".terminationGracePeriodSeconds", *t)
	}
	validateLabels(e, p+".nodeSelector", spec.NodeSelector)
	if spec.NodeName != "" && !isDNSSubdomain(spec.NodeName) {
		e.invalid(p+".nodeName", spec.NodeName, msgDNSSubdomain)
	}
	if spec.Hostname != "" && !isDNSLabel(spec.Hostname) {
		e.invalid(p+".hostname", spec.Hostname, msgDNSLabel)
	}
	if spec.Subdomain != "" && !isDNSLabel(spec.Subdomain) {
		e.invalid(p+".subdomain", spec.Subdomain, msgDNSLabel+"; it names a headless Service")
	}
	if spec.Affinity != nil {
		validateAffinity(e, p+".affinity", spec.Affinity)
	}
	validateTolerations(e, p+".tolerations", spec.Tolerations)
	validateSpreadConstraints(e, p+".topologySpreadConstraints", spec.TopologySpreadConstraints)
}

func validateContainer(e *fieldErrors, p string, c *Container, init bool, volumes map[string]bool, volumesPath string, names map[string]bool) {
	switch {
	case c.Name == "":
		e.required(p+".name", "")
	case !isDNSLabel(c.Name):
		e.invalid(p+".name", c.Name, msgDNSLabel)
	case names[c.Name]:
		e.duplicate(p+".name", c.Name)
	}
	names[c.Name] = true
	if strings.TrimSpace(c.Image) == "" {
		e.required(p+".image", "")
	} else if c.Image != strings.TrimSpace(c.Image) {
		e.invalid(p+".image", c.Image, "must not have leading or trailing whitespace")
	}
	switch c.ImagePullPolicy {
	case "", PullAlways, PullIfNotPresent, PullNever:
	default:
		e.unsupported(p+".imagePullPolicy", string(c.ImagePullPolicy), string(PullAlways), string(PullIfNotPresent), string(PullNever))
	}
	sidecar := false
	if c.RestartPolicy != nil {
		switch {
		case !init:
			e.forbidden(p+".restartPolicy", "may only be set on init containers (restartPolicy: Always makes one a sidecar)")
		case *c.RestartPolicy != ContainerRestartPolicyAlways:
			e.unsupported(p+".restartPolicy", string(*c.RestartPolicy), string(ContainerRestartPolicyAlways))
		default:
			sidecar = true
		}
	}
	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := idx(p+".ports", i)
		if port.Name != "" {
			if msg := portNameError(port.Name); msg != "" {
				e.invalid(pp+".name", port.Name, msg)
			} else if portNames[port.Name] {
				e.duplicate(pp+".name", port.Name)
			}
			portNames[port.Name] = true
		}
		if port.ContainerPort == 0 {
			e.required(pp+".containerPort", "")
		} else {
			validatePortNumber(e, pp+".containerPort", port.ContainerPort)
		}
		if port.HostPort != 0 {
			validatePortNumber(e, pp+".hostPort", port.HostPort)
		}
		validateProtocol(e, pp+".protocol", port.Protocol)
	}
	for i, env := range c.Env {
		validateEnvVar(e, idx(p+".env", i), env)
	}
	for i, from := range c.EnvFrom {
		validateEnvFrom(e, idx(p+".envFrom", i), from)
	}
	validateResources(e, p+".resources", &c.Resources)
	for _, pr := range []struct {
		name  string
		probe *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe == nil {
			continue
		}
		if init && !sidecar {
			e.forbidden(p+"."+pr.name, "may not be set for init containers without restartPolicy: Always")
			continue
		}
		validateProbe(e, p+"."+pr.name, pr.probe, pr.name != "readinessProbe")
	}
	mountPaths := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := idx(p+".volumeMounts", i)
		switch {
		case m.Name == "":
			e.required(mp+".name", "")
		case !volumes[m.Name]:
			e.notFound(mp+".name", m.Name, fmt.Sprintf("add a volume named %q to %s", m.Name, volumesPath))
		}
		switch {
		case m.MountPath == "":
			e.required(mp+".mountPath", "")
		case !strings.HasPrefix(m.MountPath, "/"):
			e.invalid(mp+".mountPath", m.MountPath, "must be an absolute path")
		case mountPaths[path.Clean(m.MountPath)]:
			e.invalid(mp+".mountPath", m.MountPath, "must be unique")
		}
		mountPaths[path.Clean(m.MountPath)] = true
		if m.SubPath != "" {
			validateRelativePath(e, mp+".subPath", m.SubPath)
		}
	}
}

func validatePortNumber(e *fieldErrors, p string, port int32) {
	if port < 1 || port > 65535 {
		e.invalid(p, port, "must be between 1 and 65535, inclusive")
	}
}

func validateProtocol(e *fieldErrors, p string, proto Protocol) {
	switch proto {
	case "", ProtocolTCP, ProtocolUDP, ProtocolSCTP:
	default:
		e.unsupported(p, string(proto), string(ProtocolTCP), string(ProtocolUDP), string(ProtocolSCTP))
	}
}

// portNameError checks an IANA service name, as Kubernetes requires of
// named ports.
func portNameError(name string) string {
	switch {
	case len(name) > 15:
		return "must be no more than 15 characters"
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		return "must contain only lower-case letters, digits and '-'"
	case strings.Trim(name, "0123456789-") == "":
		if _, err := strconv.Atoi(name); err == nil {
			return "must contain at least one letter (a-z); write a port number without quotes"
		}
		return "must contain at least one letter (a-z)"
	case strings.Contains(name, "--"):
		return "must not contain consecutive hyphens"
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return "must not begin or end with a hyphen"
	}
	return ""
}

func validatePortNumOrName(e *fieldErrors, p string, v IntOrString) {
	if v.Type == IntOrStringInt {
		validatePortNumber(e, p, v.IntVal)
		return
	}
	if v.StrVal == "" {
		e.required(p, "a port number or the name of a container port")
		return
	}
	if msg := portNameError(v.StrVal); msg != "" {
		e.invalid(p, v.StrVal, msg)
	}
}

func validateEnvVarName(e *fieldErrors, p, name string) {
	if !envVarNameRe.MatchString(name) {
		e.invalid(p, name, "a valid environment variable name must consist of letters, digits, '_', '-' or '.', and must not start with a digit (e.g. 'MY_VAR')")
	}
}

var envFieldPaths = []string{"metadata.name", "metadata.namespace", "spec.nodeName", "status.hostIP", "status.podIP"}
var subscriptedFieldPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']*)'\]$`)

func validateEnvVar(e *fieldErrors, p string, env EnvVar) {
	if env.Name == "" {
		e.required(p+".name", "")
	} else {
		validateEnvVarName(e, p+".name", env.Name)
	}
	if env.ValueFrom == nil {
		return
	}
	vp := p + ".valueFrom"
	if env.Value != "" {
		e.forbidden(vp, "may not be set together with value; use one of them")
	}
	n := 0
	if f := env.ValueFrom.FieldRef; f != nil {
		n++
		fp := vp + ".fieldRef"
		if f.APIVersion != "" && f.APIVersion != "v1" {
			e.unsupported(fp+".apiVersion", f.APIVersion, "v1")
		}
		if m := subscriptedFieldPath.FindStringSubmatch(f.FieldPath); m != nil {
			validateQualifiedName(e, fp+".fieldPath", strings.ToLower(m[2]))
		} else if f.FieldPath == "" {
			e.required(fp+".fieldPath", "such as metadata.name or status.podIP")
		} else if !contains(envFieldPaths, f.FieldPath) {
			e.unsupported(fp+".fieldPath", f.FieldPath, "metadata.name", "metadata.namespace",
				"metadata.labels['<key>']", "metadata.annotations['<key>']", "spec.nodeName", "status.hostIP", "status.podIP")
		}
	}
	if r := env.ValueFrom.ConfigMapKeyRef; r != nil {
		n++
		validateKeyRef(e, vp+".configMapKeyRef", r.Name, r.Key)
	}
	if r := env.ValueFrom.SecretKeyRef; r != nil {
		n++
		validateKeyRef(e, vp+".secretKeyRef", r.Name, r.Key)
	}
	switch {
	case n == 0:
		e.required(vp, "set one of fieldRef, configMapKeyRef or secretKeyRef")
	case n > 1:
		e.forbidden(vp, "may not have more than one of fieldRef, configMapKeyRef and secretKeyRef")
	}
}

func validateKeyRef(e *fieldErrors, p, name, k string) {
	if name == "" {
		e.required(p+".name", "")
	} else if !isDNSSubdomain(name) {
		e.invalid(p+".name", name, msgDNSSubdomain)
	}
	if k == "" {
		e.required(p+".key", "")
	} else if msg := configKeyError(k); msg != "" {
		e.invalid(p+".key", k, msg)
	}
}

func validateEnvFrom(e *fieldErrors, p string, from EnvFromSource) {
	if from.Prefix != "" {
		validateEnvVarName(e, p+".prefix", from.Prefix)
	}
	n := 0
	if r := from.ConfigMapRef; r != nil {
		n++
		if r.Name == "" {
			e.required(p+".configMapRef.name", "")
		}
	}
	if r := from.SecretRef; r != nil {
		n++
		if r.Name == "" {
			e.required(p+".secretRef.name", "")
		}
	}
	switch {
	case n == 0:
		e.required(p, "set configMapRef or secretRef")
	case n > 1:
		e.forbidden(p, "may not have both configMapRef and secretRef; use one envFrom entry for each")
	}
}

// isExtendedResource reports whether name is a domain-prefixed resource
// (nvidia.com/gpu): such resources are counted in whole units and cannot
// be overcommitted.
func isExtendedResource(name string) bool { return strings.Contains(name, "/") }

func resourceNameError(name string) string {
	switch name {
	case ResourceCPU, ResourceMemory, ResourceEphemeralStorage:
		return ""
	}
	if strings.HasPrefix(name, "hugepages-") {
		return "hugepages are not supported yet"
	}
	if !isExtendedResource(name) {
		return "must be cpu, memory, ephemeral-storage or an extended resource with a domain prefix, such as nvidia.com/gpu"
	}
	if msgs := qualifiedNameErrors(name); len(msgs) > 0 {
		return msgs[0]
	}
	domain, _, _ := strings.Cut(name, "/")
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return "the kubernetes.io domain is reserved; use a domain of your own, such as example.com/widget"
	}
	return ""
}

func validateResources(e *fieldErrors, p string, r *ResourceRequirements) {
	for _, part := range []struct {
		name string
		list ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, name := range sortedStrKeys(part.list) {
			rp := key(p+"."+part.name, name)
			q := part.list[name]
			if msg := resourceNameError(name); msg != "" {
				e.invalid(rp, name, msg)
				continue
			}
			switch {
			case q.Sign() < 0:
				e.invalid(rp, q, "must be greater than or equal to 0")
			case isExtendedResource(name) && q.Cmp(NewQuantity(q.Value(), DecimalSI)) != 0:
				e.invalid(rp, q, "must be a whole number: extended resources cannot be split")
			}
		}
	}
	for _, name := range sortedStrKeys(r.Requests) {
		req := r.Requests[name]
		lim, ok := r.Limits[name]
		// Kubernetes also requires a limit for an extended resource that has
		// a request; shoal does not, so the examples that request a GPU
		// without a limit are accepted. The request is what is reserved.
		if !ok || resourceNameError(name) != "" {
			continue
		}
		rp := key(p+".requests", name)
		switch {
		case isExtendedResource(name) && req.Cmp(lim) != 0:
			e.invalid(rp, req, fmt.Sprintf("must be equal to %s limit of %s (extended resources cannot be overcommitted)", name, lim.String()))
		case req.Cmp(lim) > 0:
			e.invalid(rp, req, fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String()))
		}
	}
}

var httpHeaderName = regexp.MustCompile("^[-!#$%&'*+.^_`|~0-9A-Za-z]+$")

func validateProbe(e *fieldErrors, p string, pr *Probe, needsSuccessOne bool) {
	n := 0
	if x := pr.Exec; x != nil {
		n++
		if len(x.Command) == 0 {
			e.required(p+".exec.command", "the command to run; exit status 0 is success")
		}
	}
	if h := pr.HTTPGet; h != nil {
		n++
		hp := p + ".httpGet"
		validatePortNumOrName(e, hp+".port", h.Port)
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			e.invalid(hp+".path", h.Path, "must be an absolute path such as /healthz")
		}
		switch h.Scheme {
		case "", URISchemeHTTP, URISchemeHTTPS:
		default:
			e.unsupported(hp+".scheme", string(h.Scheme), string(URISchemeHTTP), string(URISchemeHTTPS))
		}
		for i, hdr := range h.HTTPHeaders {
			if !httpHeaderName.MatchString(hdr.Name) {
				e.invalid(idx(hp+".httpHeaders", i)+".name", hdr.Name, "must be a valid HTTP header name")
			}
		}
	}
	if t := pr.TCPSocket; t != nil {
		n++
		validatePortNumOrName(e, p+".tcpSocket.port", t.Port)
	}
	switch {
	case n == 0:
		e.required(p, "set exactly one of exec, httpGet or tcpSocket")
	case n > 1:
		e.forbidden(p, "may not have more than one of exec, httpGet and tcpSocket")
	}
	e.nonNegative(p+".initialDelaySeconds", int64(pr.InitialDelaySeconds))
	e.nonNegative(p+".timeoutSeconds", int64(pr.TimeoutSeconds))
	e.nonNegative(p+".periodSeconds", int64(pr.PeriodSeconds))
	e.nonNegative(p+".successThreshold", int64(pr.SuccessThreshold))
	e.nonNegative(p+".failureThreshold", int64(pr.FailureThreshold))
	if needsSuccessOne && pr.SuccessThreshold > 1 {
		e.invalid(p+".successThreshold", pr.SuccessThreshold, "must be 1 for liveness and startup probes")
	}
}

// validateRelativePath checks a path that must stay inside a directory.
func validateRelativePath(e *fieldErrors, p, rel string) {
	if strings.HasPrefix(rel, "/") {
		e.invalid(p, rel, "must be a relative path")
	}
	for _, part := range strings.Split(rel, "/") {
		if part == ".." {
			e.invalid(p, rel, "must not contain '..'")
			break
		}
	}
}

var hostPathTypes = []string{"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}

func validateVolumes(e *fieldErrors, p string, vols []Volume) map[string]bool {
	names := map[string]bool{}
	for i, v := range vols {
		vp := idx(p, i)
		switch {
		case v.Name == "":
			e.required(vp+".name", "")
		case !isDNSLabel(v.Name):
			e.invalid(vp+".name", v.Name, msgDNSLabel)
		case names[v.Name]:
			e.duplicate(vp+".name", v.Name)
		}
		names[v.Name] = true
		n := 0
		if s := v.HostPath; s != nil {
			n++
			switch {
			case s.Path == "":
				e.required(vp+".hostPath.path", "")
			case !strings.HasPrefix(s.Path, "/"):
				e.invalid(vp+".hostPath.path", s.Path, "must be an absolute path")
			case strings.Contains("/"+s.Path+"/", "/../"):
				e.invalid(vp+".hostPath.path", s.Path, "must not contain '..'")
			}
			if s.Type != nil && !contains(hostPathTypes, string(*s.Type)) {
				e.unsupported(vp+".hostPath.type", string(*s.Type), hostPathTypes...)
			}
		}
		if s := v.EmptyDir; s != nil {
			n++
			if s.Medium != StorageMediumDefault && s.Medium != StorageMediumMemory {
				e.unsupported(vp+".emptyDir.medium", string(s.Medium), "", string(StorageMediumMemory))
			}
			if s.SizeLimit != nil && s.SizeLimit.Sign() < 0 {
				e.invalid(vp+".emptyDir.sizeLimit", *s.SizeLimit, "must be greater than or equal to 0")
			}
		}
		if s := v.ConfigMap; s != nil {
			n++
			if s.Name == "" {
				e.required(vp+".configMap.name", "the name of the ConfigMap")
			}
			validateItems(e, vp+".configMap", s.Items, s.DefaultMode)
		}
		if s := v.Secret; s != nil {
			n++
			if s.SecretName == "" {
				e.required(vp+".secret.secretName", "the name of the Secret")
			}
			validateItems(e, vp+".secret", s.Items, s.DefaultMode)
		}
		if v.PersistentVolumeClaim != nil {
			n++
			e.add(vp+".persistentVolumeClaim", "not supported yet (use hostPath or emptyDir)")
		}
		switch {
		case n == 0:
			e.required(vp, "set one of emptyDir, configMap, secret or hostPath")
		case n > 1:
			e.forbidden(vp, "may not have more than one volume type")
		}
	}
	return names
}

func validateItems(e *fieldErrors, p string, items []KeyToPath, defaultMode *int32) {
	if defaultMode != nil {
		validateFileMode(e, p+".defaultMode", *defaultMode)
	}
	for i, it := range items {
		ip := idx(p+".items", i)
		if it.Key == "" {
			e.required(ip+".key", "")
		} else if msg := configKeyError(it.Key); msg != "" {
			e.invalid(ip+".key", it.Key, msg)
		}
		if it.Path == "" {
			e.required(ip+".path", "the file name to write the key to")
		} else {
			validateRelativePath(e, ip+".path", it.Path)
		}
		if it.Mode != nil {
			validateFileMode(e, ip+".mode", *it.Mode)
		}
	}
}

func validateFileMode(e *fieldErrors, p string, mode int32) {
	if mode < 0 || mode > 0777 {
		e.invalid(p, mode, "must be a number between 0 and 0777 (octal), both inclusive")
	}
}
