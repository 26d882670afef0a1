package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// containerSpec turns container c of pod into what the Runtime creates:
// env resolved, volumes mounted, limits set.
func (w *podWorker) containerSpec(pod *api.Pod, c *api.Container, s startStep, netns, podIP string) (ContainerSpec, error) {
	env, err := w.env(pod, c, podIP)
	if err != nil {
		return ContainerSpec{}, err
	}
	mounts, err := w.mounts(pod, c)
	if err != nil {
		return ContainerSpec{}, err
	}
	spec := ContainerSpec{
		PodUID: pod.UID, PodName: pod.Name, Namespace: pod.Namespace, Name: c.Name, Attempt: s.attempt,
		Image: c.Image, Command: expandAll(c.Command, env), Args: expandAll(c.Args, env), Env: envList(env),
		WorkingDir: c.WorkingDir, NetNSPath: netns, Mounts: mounts,
		Labels: map[string]string{
			labelRestartDelay: strconv.FormatInt(s.delay.Milliseconds(), 10),
			labelGrace:        strconv.FormatInt(int64(graceOf(pod).Seconds()), 10),
		},
	}
	if s.init {
		spec.Labels[labelInit] = "true"
	}
	if q, ok := c.Resources.Limits["cpu"]; ok {
		spec.CPUQuotaMillis = q.MilliValue()
	}
	if q, ok := c.Resources.Limits["memory"]; ok {
		spec.MemoryLimitBytes = q.Value()
	}
	return spec, nil
}

// envVar is one resolved variable; order matters for $(VAR) expansion.
type envVar struct{ name, value string }

// env resolves c's environment as Kubernetes does: envFrom first, then env
// in order, each value expanding $(NAME) of the variables before it.
func (w *podWorker) env(pod *api.Pod, c *api.Container, podIP string) ([]envVar, error) {
	var out []envVar
	set := func(name, value string) {
		for i := range out {
			if out[i].name == name {
				out[i].value = value
				return
			}
		}
		out = append(out, envVar{name, value})
	}
	for _, from := range c.EnvFrom {
		data, err := w.envSource(pod, from)
		if err != nil {
			return nil, fmt.Errorf("container %s: envFrom: %w", c.Name, err)
		}
		for _, k := range sortedKeys(data) {
			set(from.Prefix+k, data[k])
		}
	}
	for i, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, out))
			continue
		}
		v, err := w.valueFrom(pod, e.ValueFrom, podIP)
		if err != nil {
			return nil, fmt.Errorf("container %s: env[%d] (%s): %w", c.Name, i, e.Name, err)
		}
		set(e.Name, v)
	}
	return out, nil
}

func (w *podWorker) envSource(pod *api.Pod, from api.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := w.r.Pods.ConfigMap(pod.Namespace, from.ConfigMapRef.Name)
		if err != nil {
			if optional(from.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q not found in namespace %s", from.ConfigMapRef.Name, pod.Namespace)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := w.r.Pods.Secret(pod.Namespace, from.SecretRef.Name)
		if err != nil {
			if optional(from.SecretRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q not found in namespace %s", from.SecretRef.Name, pod.Namespace)
		}
		out := map[string]string{}
		for k, b := range s.Data {
			out[k] = string(b)
		}
		return out, nil
	}
	return nil, nil
}

func (w *podWorker) valueFrom(pod *api.Pod, src *api.EnvVarSource, podIP string) (string, error) {
	switch {
	case src.FieldRef != nil:
		return fieldValue(pod, src.FieldRef.FieldPath, podIP, w.r.HostIP)
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := w.r.Pods.ConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", nil
			}
			return "", fmt.Errorf("configmap %q not found in namespace %s", ref.Name, pod.Namespace)
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", fmt.Errorf("configmap %q has no key %q", ref.Name, ref.Key)
		}
		return v, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := w.r.Pods.Secret(pod.Namespace, ref.Name)
		if err != nil {
			if optional(ref.Optional) {
				return "", nil
			}
			return "", fmt.Errorf("secret %q not found in namespace %s", ref.Name, pod.Namespace)
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", fmt.Errorf("secret %q has no key %q", ref.Name, ref.Key)
		}
		return string(v), nil
	}
	return "", fmt.Errorf("valueFrom sets no source")
}

var fieldIndex = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']*)'\]$`)

// fieldValue is the downward API: a field of the pod by path.
func fieldValue(pod *api.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return pod.UID, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "status.podIP":
		return podIP, nil
	case "status.hostIP":
		return hostIP, nil
	}
	if m := fieldIndex.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("fieldRef.fieldPath %q is not supported (use metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, status.podIP or status.hostIP)", path)
}

func optional(b *bool) bool { return b != nil && *b }

var envRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(NAME) with the value of a variable defined before, and
// $$ with $, leaving unknown references as written (as Kubernetes does).
func expand(s string, vars []envVar) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		for _, v := range vars {
			if v.name == name {
				return v.value
			}
		}
		return m
	})
}

func expandAll(in []string, vars []envVar) []string {
	var out []string
	for _, s := range in {
		out = append(out, expand(s, vars))
	}
	return out
}

func envList(vars []envVar) []string {
	out := make([]string, 0, len(vars))
	for _, v := range vars {
		out = append(out, v.name+"="+v.value)
	}
	return out
}

// mounts are c's volume mounts plus the pod's /etc files.
func (w *podWorker) mounts(pod *api.Pod, c *api.Container) ([]Mount, error) {
	etc := filepath.Join(w.r.podDir(pod.UID), "etc")
	out := []Mount{
		{Source: filepath.Join(etc, "hosts"), Destination: "/etc/hosts"},
		{Source: filepath.Join(etc, "hostname"), Destination: "/etc/hostname"},
		{Source: filepath.Join(etc, "resolv.conf"), Destination: "/etc/resolv.conf"},
	}
	vols := map[string]api.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for i, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %s: volumeMounts[%d]: no volume named %q in the pod", c.Name, i, m.Name)
		}
		src := w.volumeDir(pod.UID, v.Name)
		if v.HostPath != nil {
			src = v.HostPath.Path
		}
		if m.SubPath != "" {
			if strings.Contains(m.SubPath, "..") || filepath.IsAbs(m.SubPath) {
				return nil, fmt.Errorf("container %s: volumeMounts[%d].subPath %q must be relative and must not contain '..'", c.Name, i, m.SubPath)
			}
			src = filepath.Join(src, m.SubPath)
		}
		ro := m.ReadOnly || v.ConfigMap != nil || v.Secret != nil
		out = append(out, Mount{Source: src, Destination: m.MountPath, ReadOnly: ro})
	}
	return out, nil
}

// probeSpecs are the probes of the pod's running containers.
func (v *podView) probeSpecs(containers map[string][]ContainerStatus, podIP string, rt Runtime) []ProbeSpec {
	var out []ProbeSpec
	all := append(append([]api.Container{}, v.pod.Spec.InitContainers...), v.pod.Spec.Containers...)
	for i := range all {
		c := &all[i]
		st := v.latest(c.Name)
		if st == nil || st.State != StateRunning {
			continue
		}
		id := st.ID
		target := ProbeTarget{PodIP: podIP, Ports: c.Ports, Exec: func(ctx context.Context, cmd []string) (int, string, error) {
			var buf strings.Builder
			code, err := rt.Exec(ctx, id, ExecOptions{Command: cmd, Stdout: &limitedWriter{w: &buf, n: 10 << 10}, Stderr: &limitedWriter{w: &buf, n: 10 << 10}})
			return code, buf.String(), err
		}}
		add := func(kind ProbeKind, p *api.Probe) {
			if p != nil {
				out = append(out, ProbeSpec{ContainerID: id, Kind: kind, Probe: p, Target: target})
			}
		}
		// The startup worker stays after it passed, to keep saying so; the
		// others wait for it on their own.
		add(ProbeStartup, c.StartupProbe)
		add(ProbeLiveness, c.LivenessProbe)
		add(ProbeReadiness, c.ReadinessProbe)
	}
	return out
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
