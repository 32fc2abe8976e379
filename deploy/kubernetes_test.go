package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// k8sDecoder decodes a manifest into its typed object: the built-in kinds of
// client-go's scheme plus the Prometheus Operator's monitoring.coreos.com/v1.
// It is strict like kubectl apply --validate=strict: an unknown or duplicate
// field, or a value of the wrong type, is an error.
var k8sDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// decodeManifest decodes the single object of a manifest file strictly, and
// checks it is of the kind deployFiles says.
func decodeManifest(r *report, name string, data []byte) runtime.Object {
	// One object per file: a second document would be applied unchecked.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, extra yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty")
		}
		r.errorf("%s: %v", name, err)
		return nil
	}
	if err := dec.Decode(&extra); err == nil {
		r.errorf("%s: line %d: a second YAML document; keep one object per file", name, extra.Line)
	}
	obj, gvk, err := k8sDecoder.Decode(data, nil, nil)
	if err != nil {
		r.errorf("%s: not a valid manifest: %v", name, err)
		return nil
	}
	if want := deployFiles[name]; want != "" && gvk.Kind != want {
		r.errorf("%s: kind is %s, want %s", name, gvk.Kind, want)
		return nil
	}
	return obj
}

// manifests are the files of kubernetes/, decoded.
type manifests struct {
	deploy *appsv1.Deployment
	cm     *corev1.ConfigMap
	secret *corev1.Secret
	svc    *corev1.Service
	pm     *monitoringv1.PodMonitor
	rules  *monitoringv1.PrometheusRule
}

// readManifests decodes every manifest; it returns nil when one does not
// decode (the problem is reported).
func readManifests(r *report) *manifests {
	m := &manifests{}
	ok := true
	for name, into := range map[string]any{
		"kubernetes/deployment.yaml":     &m.deploy,
		"kubernetes/configmap.yaml":      &m.cm,
		"kubernetes/secret.example.yaml": &m.secret,
		"kubernetes/service.yaml":        &m.svc,
		"kubernetes/podmonitor.yaml":     &m.pm,
		"kubernetes/prometheusrule.yaml": &m.rules,
	} {
		data, read := r.read(name)
		if !read {
			ok = false
			continue
		}
		obj := decodeManifest(r, name, data)
		if obj == nil {
			ok = false
			continue
		}
		switch p := into.(type) {
		case **appsv1.Deployment:
			*p, _ = obj.(*appsv1.Deployment)
		case **corev1.ConfigMap:
			*p, _ = obj.(*corev1.ConfigMap)
		case **corev1.Secret:
			*p, _ = obj.(*corev1.Secret)
		case **corev1.Service:
			*p, _ = obj.(*corev1.Service)
		case **monitoringv1.PodMonitor:
			*p, _ = obj.(*monitoringv1.PodMonitor)
		case **monitoringv1.PrometheusRule:
			*p, _ = obj.(*monitoringv1.PrometheusRule)
		}
	}
	if !ok || m.deploy == nil || m.cm == nil || m.secret == nil || m.svc == nil || m.pm == nil || m.rules == nil {
		return nil
	}
	return m
}

// checkKustomization builds kubernetes/ with kustomize, as kubectl apply -k
// does, and decodes every object it emits strictly.
func checkKustomization(r *report) []string {
	const name = "kubernetes/kustomization.yaml"
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), r.path("kubernetes"))
	if err != nil {
		r.errorf("%s: kustomize build fails: %v", name, err)
		return nil
	}
	var files []string
	for _, res := range resources.Resources() {
		data, err := res.AsYAML()
		if err != nil {
			r.errorf("%s: %s: %v", name, res.CurId(), err)
			continue
		}
		if _, _, err := k8sDecoder.Decode(data, nil, nil); err != nil {
			r.errorf("%s: kustomize emits %s, which is not a valid manifest: %v", name, res.CurId(), err)
		}
		if res.GetKind() == "Secret" {
			r.errorf("%s: emits Secret %s: applying it would overwrite the real Secret with placeholders", name, res.GetName())
		}
		files = append(files, res.GetKind())
	}
	return files
}

// podName stands for the pod's name in the container's environment.
const podName = "zohosink-6d5f8b7c9-x2k4q"

// checkKubernetes checks the manifests of kubernetes/ against each other,
// the zohosink config in the ConfigMap and the image.
func checkKubernetes(r *report) {
	const name = "kubernetes/deployment.yaml"
	emitted := checkKustomization(r)
	m := readManifests(r)
	if m == nil {
		return
	}
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodMonitor", "PrometheusRule"} {
		if emitted != nil && !slices.Contains(emitted, kind) {
			r.errorf("kubernetes/kustomization.yaml: kustomize build emits no %s", kind)
		}
	}
	d := m.deploy
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		r.errorf("%s: replicas %v, want 2", name, d.Spec.Replicas)
	}
	podLabels := d.Spec.Template.Labels
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 || !matches(d.Spec.Selector.MatchLabels, podLabels) {
		r.errorf("%s: selector does not select the pod template's labels %v", name, podLabels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		r.errorf("%s: %d containers, want 1", name, len(pod.Containers))
		return
	}
	c := pod.Containers[0]
	if c.Image == "" {
		r.errorf("%s: container %s has no image", name, c.Name)
	}
	if len(c.Command) > 0 {
		r.errorf("%s: command %q overrides the image's ENTRYPOINT /zohosink; use args", name, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		r.errorf("%s: args %q, want run --config FILE", name, c.Args)
		return
	}

	// Environment: secrets from the Secret, POD_NAME from the pod.
	secretKeys := map[string]string{}
	for k, v := range m.secret.StringData {
		secretKeys[k] = v
	}
	for k, v := range m.secret.Data {
		secretKeys[k] = string(v)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			r.errorf("%s: env %s is set twice", name, e.Name)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secretKeys[ref.Key]
			if ref.Name != m.secret.Name || !ok {
				r.errorf("%s: env %s reads key %q of Secret %q, which kubernetes/secret.example.yaml (Secret %q) does not have", name, e.Name, ref.Key, ref.Name, m.secret.Name)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			if e.Name == "POD_NAME" && e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				r.errorf("%s: env POD_NAME comes from %s, want metadata.name", name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = map[string]string{"metadata.name": podName}[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom.ResourceFieldRef != nil:
			env[e.Name] = "536870912"
		default:
			r.errorf("%s: env %s: valueFrom without a source", name, e.Name)
		}
	}
	for _, want := range []string{"ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "KAFKA_SASL_PASSWORD"} {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == want })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil {
			r.errorf("%s: env %s does not come from a Secret", name, want)
		}
	}
	// Secrets given as file: paths are read from a mounted Secret's key.
	for _, ref := range fileRefs(m.cm.Data) {
		if !mountsSecretKey(m, c, ref) {
			r.errorf("kubernetes/configmap.yaml: file:%s is not a key of Secret %s mounted in the container", ref, m.secret.Name)
		}
	}

	// The config: mounted from the ConfigMap, loadable with this environment.
	cfgPath := configFlag(c.Args)
	cfgData, cfgKey, ok := mountedConfigMap(r, m, c, cfgPath)
	if !ok {
		return
	}
	cfg := checkZohosinkConfig(r, "kubernetes/configmap.yaml (data."+cfgKey+", with the Deployment's environment)", []byte(cfgData), env)
	if cfg == nil {
		return
	}
	where := "kubernetes/configmap.yaml"
	if cfg.Kafka.InstanceID != podName {
		r.errorf("%s: kafka.instance_id is not the pod name (${POD_NAME}): static membership needs a stable, unique id per pod", where)
	}
	if cfg.Zoho.APIDomain != "" || cfg.Zoho.AccountsURL != "" {
		r.errorf("%s: zoho.api_domain/accounts_url are set: a real org's URLs follow from data_center", where)
	}
	if cfg.Zoho.DataCenter != "us" {
		r.errorf("%s: zoho.data_center %q, want the default us", where, cfg.Zoho.DataCenter)
	}
	img, imgOK := zohosinkImage(&report{dir: r.dir})
	if imgOK && cfgPath != configFlag(img.cmd) {
		r.errorf("%s: --config %s differs from the image's default %s", name, cfgPath, configFlag(img.cmd))
	}

	// Ports and probes.
	listenHost, listenPort, ok := hostPort(r, where+": http.listen", cfg.HTTP.Listen)
	if !ok {
		return
	}
	if isLoopback(listenHost) {
		r.errorf("%s: http.listen %s is loopback: probes and Prometheus cannot reach it", where, cfg.HTTP.Listen)
	}
	mi := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
	if mi < 0 {
		r.errorf("%s: no container port named metrics", name)
		return
	}
	metricsPort := c.Ports[mi]
	if strconv.Itoa(int(metricsPort.ContainerPort)) != listenPort {
		r.errorf("%s: port metrics is %d, but the config listens on %s", name, metricsPort.ContainerPort, listenPort)
	}
	if imgOK && !slices.Contains(img.exposed, listenPort) {
		r.errorf("Dockerfile: does not EXPOSE %s, the port the Deployment uses", listenPort)
	}
	for _, p := range []struct {
		kind string
		p    *corev1.Probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		switch {
		case p.p == nil || p.p.HTTPGet == nil:
			r.errorf("%s: no %s httpGet", name, p.kind)
		case p.p.HTTPGet.Path != p.path:
			r.errorf("%s: %s path %s, want %s", name, p.kind, p.p.HTTPGet.Path, p.path)
		case !portRefers(p.p.HTTPGet.Port, metricsPort):
			r.errorf("%s: %s port %s, want the metrics port", name, p.kind, p.p.HTTPGet.Port.String())
		}
	}

	// Resources and security.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			r.errorf("%s: no resources.requests.%s", name, res)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		r.errorf("%s: no resources.limits.memory", name)
	}
	sc := c.SecurityContext
	if sc == nil {
		r.errorf("%s: container has no securityContext", name)
		return
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		r.errorf("%s: runAsNonRoot is not true", name)
	}
	if psc.RunAsUser != nil && img.uid >= 0 && int(*psc.RunAsUser) != img.uid {
		r.errorf("%s: runAsUser %d differs from the image's USER %d", name, *psc.RunAsUser, img.uid)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		r.errorf("%s: readOnlyRootFilesystem is not true", name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		r.errorf("%s: allowPrivilegeEscalation is not false", name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		r.errorf("%s: capabilities must drop ALL and add none", name)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		r.errorf("%s: seccompProfile is not RuntimeDefault", name)
	}
	drain, err := drainTimeout(c.Args)
	if err != nil {
		r.errorf("%s: --drain-timeout: %v", name, err)
		return
	}
	switch g := pod.TerminationGracePeriodSeconds; {
	case g == nil:
		r.errorf("%s: no terminationGracePeriodSeconds: the default 30s is not above the drain timeout %s", name, drain)
	case time.Duration(*g)*time.Second <= drain:
		r.errorf("%s: terminationGracePeriodSeconds %d is not above the drain timeout %s: the kubelet would kill zohosink mid-drain", name, *g, drain)
	}

	// Service and PodMonitor reach the pods' metrics port.
	if len(m.svc.Spec.Selector) == 0 || !matches(m.svc.Spec.Selector, podLabels) {
		r.errorf("kubernetes/service.yaml: selector %v does not select the pods (%v)", m.svc.Spec.Selector, podLabels)
	}
	if m.svc.Spec.Type != "" && m.svc.Spec.Type != corev1.ServiceTypeClusterIP {
		r.errorf("kubernetes/service.yaml: type %s, want ClusterIP", m.svc.Spec.Type)
	}
	if len(m.svc.Spec.Ports) == 0 || !portRefers(m.svc.Spec.Ports[0].TargetPort, metricsPort) {
		r.errorf("kubernetes/service.yaml: targetPort does not name the container's metrics port")
	}
	if len(m.pm.Spec.Selector.MatchLabels) == 0 || !matches(m.pm.Spec.Selector.MatchLabels, podLabels) {
		r.errorf("kubernetes/podmonitor.yaml: selector %v does not select the pods (%v)", m.pm.Spec.Selector.MatchLabels, podLabels)
	}
	eps := m.pm.Spec.PodMetricsEndpoints
	if len(eps) == 0 || eps[0].Port == nil || *eps[0].Port != metricsPort.Name || cmpOr(eps[0].Path, "/metrics") != "/metrics" {
		r.errorf("kubernetes/podmonitor.yaml: want one endpoint on port %s, path /metrics", metricsPort.Name)
	}
	if jl := m.pm.Spec.JobLabel; jl == "" || podLabels[jl] == "" {
		r.errorf("kubernetes/podmonitor.yaml: jobLabel %q is not a label of the pods: the job label would be <namespace>/<podmonitor>", jl)
	}

	// The kustomization's image override names the Deployment's image.
	if data, ok := r.read("kubernetes/kustomization.yaml"); ok {
		var k kusttypes.Kustomization
		if err := k.Unmarshal(data); err == nil {
			repo, _, _ := strings.Cut(c.Image, ":")
			for _, im := range k.Images {
				if im.Name != repo {
					r.errorf("kubernetes/kustomization.yaml: images: %s is not the Deployment's image %s", im.Name, repo)
				}
			}
		}
	}
}

func TestKubernetes(t *testing.T) { check(t, checkKubernetes, nil) }

// matches reports whether a selector selects labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// portRefers reports whether a probe or targetPort value names port p.
func portRefers(v intstr.IntOrString, p corev1.ContainerPort) bool {
	if v.Type == intstr.String {
		return v.StrVal == p.Name
	}
	return v.IntVal == p.ContainerPort
}

// fileRefs returns the paths of the file: secret references in the
// ConfigMap's zohosink configs.
func fileRefs(data map[string]string) []string {
	var out []string
	for _, text := range data {
		for _, f := range strings.Fields(text) {
			if p, ok := strings.CutPrefix(strings.Trim(f, `"'`), "file:"); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// mountsSecretKey reports whether file is a key of the Secret mounted in the
// container.
func mountsSecretKey(m *manifests, c corev1.Container, file string) bool {
	for _, vm := range c.VolumeMounts {
		vi := slices.IndexFunc(m.deploy.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			continue
		}
		v := m.deploy.Spec.Template.Spec.Volumes[vi]
		if v.Secret == nil || v.Secret.SecretName != m.secret.Name {
			continue
		}
		rel, ok := strings.CutPrefix(file, path.Clean(vm.MountPath)+"/")
		if vm.SubPath != "" {
			rel, ok = vm.SubPath, file == vm.MountPath
		}
		if !ok {
			continue
		}
		key := rel
		if len(v.Secret.Items) > 0 {
			i := slices.IndexFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == rel })
			if i < 0 {
				continue
			}
			key = v.Secret.Items[i].Key
		}
		if _, ok := m.secret.StringData[key]; ok {
			return true
		}
		if _, ok := m.secret.Data[key]; ok {
			return true
		}
	}
	return false
}

// mountedConfigMap returns the ConfigMap data the container reads at
// cfgPath, and its key.
func mountedConfigMap(r *report, m *manifests, c corev1.Container, cfgPath string) (string, string, bool) {
	const name = "kubernetes/deployment.yaml"
	for _, vm := range c.VolumeMounts {
		file := ""
		switch {
		case vm.SubPath != "" && vm.MountPath == cfgPath:
			file = vm.SubPath
		case vm.SubPath == "" && path.Dir(cfgPath) == path.Clean(vm.MountPath):
			file = path.Base(cfgPath)
		default:
			continue
		}
		vi := slices.IndexFunc(m.deploy.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			r.errorf("%s: volumeMount %s names no volume", name, vm.Name)
			return "", "", false
		}
		v := m.deploy.Spec.Template.Spec.Volumes[vi]
		if v.ConfigMap == nil || v.ConfigMap.Name != m.cm.Name {
			r.errorf("%s: volume %s mounted at %s is not the ConfigMap %s", name, v.Name, vm.MountPath, m.cm.Name)
			return "", "", false
		}
		key := file
		if len(v.ConfigMap.Items) > 0 {
			i := slices.IndexFunc(v.ConfigMap.Items, func(it corev1.KeyToPath) bool { return it.Path == file })
			if i < 0 {
				r.errorf("%s: volume %s maps no ConfigMap key to %s, the file --config %s reads", name, v.Name, file, cfgPath)
				return "", "", false
			}
			key = v.ConfigMap.Items[i].Key
		}
		data, ok := m.cm.Data[key]
		if !ok {
			r.errorf("%s: --config %s is key %q of ConfigMap %s, which kubernetes/configmap.yaml lacks", name, cfgPath, key, m.cm.Name)
			return "", "", false
		}
		return data, key, true
	}
	r.errorf("%s: nothing is mounted at --config %s", name, cfgPath)
	return "", "", false
}
