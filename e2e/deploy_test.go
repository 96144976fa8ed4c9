package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"gopkg.in/yaml.v3"

	"github.com/packyard/packyard/internal/testcert"
	"github.com/packyard/packyard/internal/testenv"
	"github.com/packyard/packyard/pkg/ociregistry/server"
)

// chartDir is the Helm chart, relative to the repository root.
const chartDir = "deploy/helm/packyard"

// The Kubernetes objects the chart renders, as far as the tests read them.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec yaml.Node         `yaml:"spec"`
}

type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Strategy struct {
		Type string `yaml:"type"`
	} `yaml:"strategy"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
		FSGroup      *int64 `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []volume    `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path   string `yaml:"path"`
		Port   any    `yaml:"port"`
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
}

type keyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string      `yaml:"name"`
		Items []keyToPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string      `yaml:"secretName"`
		Items      []keyToPath `yaml:"items"`
	} `yaml:"secret"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	EmptyDir *struct{} `yaml:"emptyDir"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
}

// rendered is what `helm template` made of the chart with one values set.
type rendered struct {
	objects    []k8sObject
	deployment deploymentSpec
	container  container
	// configMaps and secrets hold each object's data by name; secrets'
	// values are decoded.
	configMaps, secrets map[string]map[string]string
}

// helmTemplate renders the chart with args; it fails the test unless helm
// exits 0.
func helmTemplate(t *testing.T, args ...string) *rendered {
	t.Helper()
	res := mustRun(t, repoRoot, nil, helmBin, append([]string{"template", "pack", chartDir, "--namespace", "packs"}, args...)...)
	r := &rendered{configMaps: map[string]map[string]string{}, secrets: map[string]map[string]string{}}
	dec := yaml.NewDecoder(strings.NewReader(res.stdout))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template %s printed YAML that does not parse: %v\n%s", strings.Join(args, " "), err, res.stdout)
		}
		if o.Kind == "" {
			continue
		}
		r.objects = append(r.objects, o)
		switch o.Kind {
		case "Deployment":
			if err := o.Spec.Decode(&r.deployment); err != nil {
				t.Fatal(err)
			}
		case "ConfigMap":
			r.configMaps[o.Metadata.Name] = o.Data
		case "Secret":
			data := map[string]string{}
			for k, v := range o.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatalf("Secret %s key %s: %v", o.Metadata.Name, k, err)
				}
				data[k] = string(b)
			}
			r.secrets[o.Metadata.Name] = data
		}
	}
	if n := r.count("Deployment"); n != 1 {
		t.Fatalf("%d Deployments rendered, want 1", n)
	}
	if cs := r.deployment.Template.Spec.Containers; len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	r.container = r.deployment.Template.Spec.Containers[0]
	return r
}

func (r *rendered) count(kind string) int {
	n := 0
	for _, o := range r.objects {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

func (r *rendered) object(t *testing.T, kind string) *k8sObject {
	t.Helper()
	for i := range r.objects {
		if r.objects[i].Kind == kind {
			return &r.objects[i]
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}

// podFile is a file the pod sees: a key of a ConfigMap or Secret mounted
// at a path.
type podFile struct {
	kind, name, key string
}

// podFiles maps every file path that a ConfigMap or Secret volume puts in
// the container to where it comes from, and lists the writable mounts.
func (r *rendered) podFiles(t *testing.T) (files map[string]podFile, writable []string) {
	t.Helper()
	vols := map[string]volume{}
	for _, v := range r.deployment.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	files = map[string]podFile{}
	for _, m := range r.container.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Fatalf("volume mount %s names no volume", m.Name)
		}
		if m.SubPath != "" {
			t.Errorf("volume mount %s uses subPath: it would not see updates", m.Name)
		}
		switch {
		case v.ConfigMap != nil:
			for _, it := range v.ConfigMap.Items {
				files[path.Join(m.MountPath, it.Path)] = podFile{"ConfigMap", v.ConfigMap.Name, it.Key}
			}
		case v.Secret != nil:
			for _, it := range v.Secret.Items {
				files[path.Join(m.MountPath, it.Path)] = podFile{"Secret", v.Secret.SecretName, it.Key}
			}
		case v.EmptyDir != nil || v.PersistentVolumeClaim != nil:
			writable = append(writable, m.MountPath)
		}
	}
	return files, writable
}

// configArg is the file the container's --config names.
func (r *rendered) configArg(t *testing.T) string {
	t.Helper()
	i := slices.Index(r.container.Args, "--config")
	if r.container.Args[0] != "serve" || i < 0 || i+1 >= len(r.container.Args) {
		t.Fatalf("container args %q: want serve --config FILE", r.container.Args)
	}
	return r.container.Args[i+1]
}

// secretEnv is the container's environment with every secretKeyRef
// replaced by a placeholder naming the Secret and key.
func (r *rendered) secretEnv() map[string]string {
	env := map[string]string{}
	for _, e := range r.container.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = placeholder(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

func placeholder(secret, key string) string { return "from-secret:" + secret + "/" + key }

// loadRenderedConfig writes the ConfigMap's configuration to a file and
// loads it as `packyard serve --config` does, with the container's
// environment (secrets as placeholders) set.
func (r *rendered) loadRenderedConfig(t *testing.T) (*configuration.Configuration, string) {
	t.Helper()
	files, _ := r.podFiles(t)
	cfgPath := r.configArg(t)
	f, ok := files[cfgPath]
	if !ok || f.kind != "ConfigMap" {
		t.Fatalf("--config %s is not a file a ConfigMap mounts (files: %v)", cfgPath, files)
	}
	text, ok := r.configMaps[f.name][f.key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", f.name, f.key)
	}
	file := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "REGISTRY_") {
			t.Setenv(k, "") // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range r.secretEnv() {
		t.Setenv(k, v)
	}
	cfg, err := server.LoadConfig(server.ConfigOptions{File: file})
	if err != nil {
		t.Fatalf("server.LoadConfig refuses the rendered configuration: %v\n%s", err, text)
	}
	return cfg, text
}

// checkSecretFile says that the configuration's file path p is a key of a
// Secret: the one named want, or, when want is empty, a Secret the chart
// renders, whose key holds content. It returns the file's origin.
func (r *rendered) checkSecretFile(t *testing.T, what, p, want, key string) podFile {
	t.Helper()
	files, _ := r.podFiles(t)
	f, ok := files[p]
	if !ok {
		t.Errorf("%s %s: no Secret is mounted there", what, p)
		return f
	}
	if f.kind != "Secret" || f.key != key {
		t.Errorf("%s %s is %s %s key %s, want a Secret's key %s", what, p, f.kind, f.name, f.key, key)
	}
	if want != "" {
		if f.name != want {
			t.Errorf("%s %s comes from Secret %s, want %s", what, p, f.name, want)
		}
	} else if _, ok := r.secrets[f.name][f.key]; !ok {
		t.Errorf("%s %s comes from Secret %s key %s, which the chart does not render", what, p, f.name, f.key)
	}
	return f
}

// checkCommon checks what every values set must give: a configuration
// packyard loads, ports and probes that match it, the http secret from a
// Secret, a non-root read-only container.
func (r *rendered) checkCommon(t *testing.T, replicas int, tlsOn bool) *configuration.Configuration {
	t.Helper()
	cfg, text := r.loadRenderedConfig(t)
	if r.deployment.Replicas != replicas {
		t.Errorf("replicas %d, want %d", r.deployment.Replicas, replicas)
	}

	// The http secret comes from a Secret, never from the ConfigMap.
	if !strings.HasPrefix(cfg.HTTP.Secret, "from-secret:") {
		t.Errorf("http.secret is %q, not REGISTRY_HTTP_SECRET from a Secret", cfg.HTTP.Secret)
	}
	for name, data := range r.secrets {
		for key, v := range data {
			if len(v) >= 8 && strings.Contains(text, strings.TrimSpace(v)) {
				t.Errorf("the ConfigMap holds Secret %s's %s", name, key)
			}
		}
	}

	// packyard's middleware is configured.
	var opts map[string]any
	for _, mw := range cfg.Middleware["registry"] {
		if mw.Name == "packyard" {
			opts = mw.Options
		}
	}
	if opts == nil {
		t.Errorf("no packyard registry middleware in the configuration:\n%s", text)
	} else if d, err := time.ParseDuration(toString(opts["catalogrefresh"])); err != nil || d <= 0 {
		t.Errorf("catalogrefresh %v is not a duration", opts["catalogrefresh"])
	}

	// Ports: the container's, the configuration's and the Service's agree.
	ports := map[string]int{}
	for _, p := range r.container.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if got := addrPort(t, cfg.HTTP.Addr); got != ports["registry"] || got == 0 {
		t.Errorf("http.addr %s, container port registry %d", cfg.HTTP.Addr, ports["registry"])
	}
	if cfg.HTTP.Debug.Addr != "" {
		if got := addrPort(t, cfg.HTTP.Debug.Addr); got != ports["metrics"] {
			t.Errorf("http.debug.addr %s, container port metrics %d", cfg.HTTP.Debug.Addr, ports["metrics"])
		}
		if !cfg.HTTP.Debug.Prometheus.Enabled || cfg.HTTP.Debug.Prometheus.Path != "/metrics" {
			t.Errorf("http.debug.prometheus %+v, want enabled at /metrics", cfg.HTTP.Debug.Prometheus)
		}
	}
	var svc struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []servicePort     `yaml:"ports"`
	}
	if err := r.object(t, "Service").Spec.Decode(&svc); err != nil {
		t.Fatal(err)
	}
	for _, p := range svc.Ports {
		name, _ := p.TargetPort.(string)
		if _, ok := ports[name]; !ok {
			t.Errorf("Service port %s targets %v, not a named container port", p.Name, p.TargetPort)
		}
	}
	for k, v := range svc.Selector {
		if r.deployment.Template.Metadata.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not have", k, v)
		}
	}

	// Probes ask /health on the registry port, over TLS when it serves TLS.
	scheme := "HTTP"
	if tlsOn {
		scheme = "HTTPS"
	}
	for name, p := range map[string]*probe{"liveness": r.container.LivenessProbe, "readiness": r.container.ReadinessProbe} {
		switch {
		case p == nil || p.HTTPGet == nil:
			t.Errorf("no %s probe with httpGet", name)
		case p.HTTPGet.Path != "/health":
			t.Errorf("%s probe asks %s, want /health", name, p.HTTPGet.Path)
		case p.HTTPGet.Port != "registry" && p.HTTPGet.Port != ports["registry"]:
			t.Errorf("%s probe asks port %v, want the registry port", name, p.HTTPGet.Port)
		case p.HTTPGet.Scheme != scheme:
			t.Errorf("%s probe scheme %q, want %s", name, p.HTTPGet.Scheme, scheme)
		}
	}

	// Not root, read-only root filesystem, no privileges; /tmp writable.
	pod, c := r.deployment.Template.Spec.SecurityContext, r.container.SecurityContext
	if pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
		t.Errorf("pod securityContext runAsNonRoot %v runAsUser %v: want a non-root user", pod.RunAsNonRoot, pod.RunAsUser)
	}
	if c.RunAsNonRoot == nil || !*c.RunAsNonRoot {
		t.Error("container securityContext lacks runAsNonRoot: true")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Error("container root filesystem is not read-only")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Error("container allows privilege escalation")
	}
	if !slices.Contains(c.Capabilities.Drop, "ALL") {
		t.Errorf("container drops capabilities %v, want ALL", c.Capabilities.Drop)
	}
	_, writable := r.podFiles(t)
	if !slices.Contains(writable, "/tmp") {
		t.Errorf("no writable /tmp on the read-only root filesystem (writable: %v)", writable)
	}

	// Stopping pods get the drain timeout, and some.
	if grace := time.Duration(r.deployment.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= cfg.HTTP.DrainTimeout {
		t.Errorf("terminationGracePeriodSeconds %v is not more than http.draintimeout %v", grace, cfg.HTTP.DrainTimeout)
	}
	if r.deployment.Template.Metadata.Annotations["checksum/config"] == "" {
		t.Error("no checksum/config annotation: a configuration change would not roll the pods")
	}
	return cfg
}

// The chart with its default values: one replica keeping packs on a
// ReadWriteOnce volume, and a configuration `packyard serve` runs with.
func TestDeployHelmDefault(t *testing.T) {
	mustRun(t, repoRoot, nil, helmBin, "lint", "--strict", chartDir)
	r := helmTemplate(t)
	cfg := r.checkCommon(t, 1, false)

	if got := cfg.Storage.Type(); got != "filesystem" {
		t.Fatalf("storage %s, want filesystem", got)
	}
	root := toString(cfg.Storage["filesystem"]["rootdirectory"])
	_, writable := r.podFiles(t)
	if !slices.Contains(writable, root) {
		t.Errorf("filesystem rootdirectory %s is not a mounted volume (writable: %v)", root, writable)
	}
	var claim string
	for _, v := range r.deployment.Template.Spec.Volumes {
		if v.Name == "data" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	pvc := r.object(t, "PersistentVolumeClaim")
	if claim == "" || pvc.Metadata.Name != claim {
		t.Errorf("data volume claims %q, the chart's PersistentVolumeClaim is %q", claim, pvc.Metadata.Name)
	}
	if r.deployment.Strategy.Type != "Recreate" {
		t.Errorf("strategy %q on a ReadWriteOnce volume, want Recreate", r.deployment.Strategy.Type)
	}
	// The http secret is generated into the chart's Secret.
	sec := strings.TrimPrefix(cfg.HTTP.Secret, "from-secret:")
	name, key, _ := strings.Cut(sec, "/")
	if len(r.secrets[name][key]) < 32 {
		t.Errorf("the generated http secret %s/%s is %q", name, key, r.secrets[name][key])
	}
	if cfg.Storage["cache"]["blobdescriptor"] != "inmemory" {
		t.Errorf("blob descriptor cache %v, want inmemory for one replica", cfg.Storage["cache"])
	}
	for _, kind := range []string{"ServiceMonitor", "Ingress", "PodDisruptionBudget"} {
		if r.count(kind) != 0 {
			t.Errorf("a %s is rendered by default", kind)
		}
	}

	// The rendered configuration runs: packyard serve with the pod's files
	// under a temporary root.
	p := startRendered(t, r, nil)
	p.expectStatus(t, "/health", nil, http.StatusOK, `{"status":"UP"}`)
	p.expectStatus(t, "/v2/", nil, http.StatusOK, "")
	// The metrics port serves Prometheus metrics at the configured path.
	if p.debugAddr == "" {
		t.Fatal("no debug server in the default configuration")
	}
	resp, err := http.Get("http://" + p.debugAddr + cfg.HTTP.Debug.Prometheus.Path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "# TYPE ") {
		t.Errorf("GET %s on the metrics port: %s\n%.300s", cfg.HTTP.Debug.Prometheus.Path, resp.Status, b)
	}
}

// The scale-out setup: three replicas sharing S3, a Redis cache and one
// http secret, with a ServiceMonitor and an Ingress.
func TestDeployHelmS3Redis(t *testing.T) {
	values := filepath.Join(chartDir, "ci", "s3-redis-values.yaml")
	mustRun(t, repoRoot, nil, helmBin, "lint", "--strict", chartDir, "-f", values)
	r := helmTemplate(t, "-f", values)
	cfg := r.checkCommon(t, 3, false)

	if got := cfg.Storage.Type(); got != "s3" {
		t.Fatalf("storage %s, want s3", got)
	}
	s3 := cfg.Storage["s3"]
	for k, want := range map[string]string{
		"bucket": "packs", "region": "us-east-1", "regionendpoint": "http://minio.storage:9000",
		"accesskey": placeholder("packyard-s3", "accesskey"), "secretkey": placeholder("packyard-s3", "secretkey"),
	} {
		if got := toString(s3[k]); got != want {
			t.Errorf("storage.s3.%s = %q, want %q", k, got, want)
		}
	}
	if cfg.Storage["cache"]["blobdescriptor"] != "redis" {
		t.Errorf("blob descriptor cache %v, want redis", cfg.Storage["cache"])
	}
	if !slices.Equal(cfg.Redis.Options.Addrs, []string{"redis-master.redis:6379"}) || cfg.Redis.Options.DB != 1 {
		t.Errorf("redis %+v", cfg.Redis.Options)
	}
	if want := placeholder("pack-packyard", "redis-password"); cfg.Redis.Options.Password != want {
		t.Errorf("redis password %q, want %q", cfg.Redis.Options.Password, want)
	}
	if r.secrets["pack-packyard"]["redis-password"] != "not-a-real-password" {
		t.Errorf("the chart's Secret does not hold the Redis password: %v", r.secrets)
	}
	if want := placeholder("packyard-http", "http-secret"); cfg.HTTP.Secret != want {
		t.Errorf("http secret %q, want the existing Secret's %q", cfg.HTTP.Secret, want)
	}
	if _, ok := r.secrets["pack-packyard"]["http-secret"]; ok {
		t.Error("the chart generates an http secret although http.existingSecret is set")
	}
	if r.count("PersistentVolumeClaim") != 0 {
		t.Error("a PersistentVolumeClaim is rendered for s3 storage")
	}
	if r.deployment.Strategy.Type == "Recreate" {
		t.Error("strategy Recreate with shared storage: replicas would all stop at once")
	}
	for _, kind := range []string{"ServiceMonitor", "Ingress", "PodDisruptionBudget"} {
		if r.count(kind) != 1 {
			t.Errorf("%d %s rendered, want 1", r.count(kind), kind)
		}
	}
	var sm struct {
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	}
	if err := r.object(t, "ServiceMonitor").Spec.Decode(&sm); err != nil {
		t.Fatal(err)
	}
	if len(sm.Endpoints) != 1 || sm.Endpoints[0].Port != "metrics" || sm.Endpoints[0].Path != cfg.HTTP.Debug.Prometheus.Path {
		t.Errorf("ServiceMonitor endpoints %+v, want port metrics at %s", sm.Endpoints, cfg.HTTP.Debug.Prometheus.Path)
	}
}

// htpasswd and TLS: the files the configuration names are the Secrets'
// keys, and packyard serves HTTPS with them, asking for a password.
func TestDeployHelmHtpasswdTLS(t *testing.T) {
	values := filepath.Join(chartDir, "ci", "htpasswd-tls-values.yaml")
	mustRun(t, repoRoot, nil, helmBin, "lint", "--strict", chartDir, "-f", values)
	r := helmTemplate(t, "-f", values)
	cfg := r.checkCommon(t, 1, true)

	if cfg.Auth.Type() != "htpasswd" {
		t.Fatalf("auth %v, want htpasswd", cfg.Auth)
	}
	if got := toString(cfg.Auth["htpasswd"]["realm"]); got != "packs" {
		t.Errorf("realm %q", got)
	}
	f := r.checkSecretFile(t, "auth.htpasswd.path", toString(cfg.Auth["htpasswd"]["path"]), "", "htpasswd")
	if content := r.secrets[f.name][f.key]; !strings.HasPrefix(content, "ci:$2") {
		t.Errorf("htpasswd file %q", content)
	}
	r.checkSecretFile(t, "http.tls.certificate", cfg.HTTP.TLS.Certificate, "packyard-tls", "tls.crt")
	r.checkSecretFile(t, "http.tls.key", cfg.HTTP.TLS.Key, "packyard-tls", "tls.key")
	if cfg.HTTP.TLS.MinimumTLS != "tls1.3" {
		t.Errorf("minimumtls %q", cfg.HTTP.TLS.MinimumTLS)
	}
	if want := "a-fixed-secret-for-ci"; r.secrets["pack-packyard"]["http-secret"] != want {
		t.Errorf("http secret %q, want the one given", r.secrets["pack-packyard"]["http-secret"])
	}

	// Run it: TLS from a certificate made here, the htpasswd from the chart.
	cert, key := testcert.SelfSigned(t)
	p := startRendered(t, r, map[string]map[string]string{"packyard-tls": {"tls.crt": string(cert), "tls.key": string(key)}}, testcert.Pool(t, cert))
	p.expectStatus(t, "/health", nil, http.StatusOK, `{"status":"UP"}`)
	p.expectStatus(t, "/v2/", nil, http.StatusUnauthorized, "")
	p.expectStatus(t, "/v2/", []string{"ci", "ci"}, http.StatusOK, "")
	p.expectStatus(t, "/v2/", []string{"ci", "wrong"}, http.StatusUnauthorized, "")
}

// GCS and Azure: the credentials reach the configuration from Secrets.
func TestDeployHelmGCSAzure(t *testing.T) {
	t.Run("gcs", func(t *testing.T) {
		values := filepath.Join(chartDir, "ci", "gcs-values.yaml")
		mustRun(t, repoRoot, nil, helmBin, "lint", "--strict", chartDir, "-f", values)
		r := helmTemplate(t, "-f", values)
		cfg := r.checkCommon(t, 2, false)
		if cfg.Storage.Type() != "gcs" || toString(cfg.Storage["gcs"]["bucket"]) != "packs" {
			t.Fatalf("storage %v", cfg.Storage)
		}
		r.checkSecretFile(t, "storage.gcs.keyfile", toString(cfg.Storage["gcs"]["keyfile"]), "packyard-gcs", "keyfile.json")
		if want := placeholder("packyard-redis", "redis-password"); cfg.Redis.Options.Password != want {
			t.Errorf("redis password %q, want %q", cfg.Redis.Options.Password, want)
		}
	})
	t.Run("azure", func(t *testing.T) {
		values := filepath.Join(chartDir, "ci", "azure-values.yaml")
		mustRun(t, repoRoot, nil, helmBin, "lint", "--strict", chartDir, "-f", values)
		r := helmTemplate(t, "-f", values)
		cfg := r.checkCommon(t, 2, false)
		az := cfg.Storage["azure"]
		if cfg.Storage.Type() != "azure" || toString(az["accountname"]) != "packyard" || toString(az["container"]) != "packs" {
			t.Fatalf("storage %v", cfg.Storage)
		}
		if got, want := toString(az["accountkey"]), placeholder("packyard-azure", "accountkey"); got != want {
			t.Errorf("storage.azure.accountkey %q, want %q", got, want)
		}
	})
}

// Several replicas cannot share a ReadWriteOnce volume or an emptyDir: the
// chart refuses to render, and says what to do.
func TestDeployHelmFilesystemReplicas(t *testing.T) {
	for name, args := range map[string][]string{
		"ReadWriteOnce": {"--set", "replicaCount=2"},
		"emptyDir":      {"--set", "replicaCount=2", "--set", "persistence.enabled=false"},
	} {
		t.Run(name, func(t *testing.T) {
			res := run(t, repoRoot, nil, helmBin, append([]string{"template", "pack", chartDir}, args...)...)
			if res.code == 0 {
				t.Fatalf("helm template %s rendered:\n%s", strings.Join(args, " "), res.stdout)
			}
			for _, want := range []string{"replicaCount is 2 but storage.type is filesystem", "replicaCount=1", "storage.type s3, gcs or azure", "ReadWriteMany"} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, res.stderr)
				}
			}
		})
	}
	// A ReadWriteMany volume can be shared.
	r := helmTemplate(t, "--set", "replicaCount=2", "--set", "persistence.accessModes={ReadWriteMany}")
	r.checkCommon(t, 2, false)
	if r.deployment.Strategy.Type == "Recreate" {
		t.Error("strategy Recreate on a ReadWriteMany volume")
	}
}

// renderedProcess is `packyard serve` run with a rendered pod's
// configuration, files and environment.
type renderedProcess struct {
	base   string
	client *http.Client
	// debugAddr is where the debug server listens, if the configuration
	// has one.
	debugAddr string
}

// startRendered runs packyard serve as the rendered pod would: the files
// of its ConfigMap and Secret volumes (external Secrets' from external)
// under a temporary root, its writable volumes as empty folders, every
// mount path in the configuration moved under that root, and its
// environment with the Secrets' values. The addresses become free loopback
// ones. pool, when given, is the CA of the registry's certificate.
func startRendered(t *testing.T, r *rendered, external map[string]map[string]string, pool ...*x509.CertPool) *renderedProcess {
	t.Helper()
	root := t.TempDir()
	files, writable := r.podFiles(t)
	secretValue := func(name, key string) string {
		if v, ok := r.secrets[name][key]; ok {
			return v
		}
		if v, ok := external[name][key]; ok {
			return v
		}
		t.Fatalf("Secret %s key %s is neither rendered nor given", name, key)
		return ""
	}
	var cfgFile string
	for p, f := range files {
		var content string
		if f.kind == "ConfigMap" {
			content = r.configMaps[f.name][f.key]
		} else {
			content = secretValue(f.name, f.key)
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if p == r.configArg(t) {
			cfgFile = dst
		}
	}
	for _, p := range writable {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Move every mount path in the configuration under root, longest first.
	var mounts []string
	for _, m := range r.container.VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	text, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	rewriteStrings(doc, func(s string) string {
		for _, m := range mounts {
			if s == m || strings.HasPrefix(s, m+"/") {
				return filepath.Join(root, filepath.FromSlash(s))
			}
		}
		return s
	})
	addr := freeLoopbackAddr(t)
	httpCfg := doc["http"].(map[string]any)
	httpCfg["addr"] = addr
	debugAddr := ""
	if dbg, ok := httpCfg["debug"].(map[string]any); ok {
		debugAddr = freeLoopbackAddr(t)
		dbg["addr"] = debugAddr
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, out, 0o600); err != nil {
		t.Fatal(err)
	}

	args := slices.Clone(r.container.Args)
	args[slices.Index(args, "--config")+1] = cfgFile
	var env []string
	for _, e := range r.container.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			v = secretValue(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		}
		env = append(env, e.Name+"="+v)
	}
	env = append(env, "TMPDIR="+filepath.Join(root, "tmp"))

	var ca *x509.CertPool
	if len(pool) > 0 {
		ca = pool[0]
	}
	p := startPackyard(t, args, env, addr, ca, "configuration:\n"+string(out))
	p.debugAddr = debugAddr
	return p
}

// startPackyard runs packyard with args and env (and no REGISTRY_*
// variables but env's) until the test ends, and waits until it answers
// GET /health at addr, over TLS trusting ca when ca is not nil. note goes
// with the logs of a process that exits too soon.
func startPackyard(t *testing.T, args, env []string, addr string, ca *x509.CertPool, note string) *renderedProcess {
	t.Helper()
	p := &renderedProcess{base: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	if ca != nil {
		p.base = "https://" + addr
		p.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}
	}
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(packyardBin, args...)
	cmd.Env = append(slices.DeleteFunc(baseEnv(), func(kv string) bool { return strings.HasPrefix(kv, "REGISTRY_") }), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("packyard %s:\n%s", strings.Join(args, " "), logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("packyard %s exited: %v\n%s\n%s", strings.Join(args, " "), waitErr, logs.String(), note)
		default:
		}
		resp, err := p.client.Get(p.base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectStatus asks GET p, with basic auth when userPass is given, and
// checks the status and, when body is not empty, the body.
func (p *renderedProcess) expectStatus(t *testing.T, urlPath string, userPass []string, status int, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.base+urlPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(userPass) == 2 {
		req.SetBasicAuth(userPass[0], userPass[1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Errorf("GET %s: %s, want %d\n%s", urlPath, resp.Status, status, b)
	}
	if body != "" {
		var got, want any
		if json.Unmarshal(b, &got) != nil || json.Unmarshal([]byte(body), &want) != nil || !jsonEqual(got, want) {
			t.Errorf("GET %s answered %s, want %s", urlPath, b, body)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// rewriteStrings replaces every string in a decoded YAML document.
func rewriteStrings(v any, f func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok {
				v[k] = f(s)
			} else {
				rewriteStrings(x, f)
			}
		}
	case []any:
		for i, x := range v {
			if s, ok := x.(string); ok {
				v[i] = f(s)
			} else {
				rewriteStrings(x, f)
			}
		}
	}
}

func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// dockerfile is what the tests read of the Dockerfile: its instructions,
// continuation lines joined, and the last stage's.
type dockerfile struct {
	all   []string
	final []string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		ins := strings.TrimSpace(cur.String())
		cur.Reset()
		if ins == "" {
			continue
		}
		d.all = append(d.all, ins)
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			d.final = nil
		}
		d.final = append(d.final, ins)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// instruction returns the arguments of the last instruction named name in
// the final stage.
func (d dockerfile) instruction(t *testing.T, name string) string {
	t.Helper()
	var args string
	found := false
	for _, ins := range d.final {
		if n, rest, _ := strings.Cut(ins, " "); strings.EqualFold(n, name) {
			args, found = strings.TrimSpace(rest), true
		}
	}
	if !found {
		t.Fatalf("the Dockerfile's final stage has no %s", name)
	}
	return args
}

func (d dockerfile) execForm(t *testing.T, name string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(d.instruction(t, name)), &v); err != nil {
		t.Fatalf("%s is not in exec form (a JSON array): %v", name, err)
	}
	return v
}

// The image's ENTRYPOINT and CMD run `packyard serve` with flags it has,
// on the port it exposes and the volume it declares, and the command
// starts.
func TestDeployDockerfile(t *testing.T) {
	d := readDockerfile(t)
	entry, cmd := d.execForm(t, "ENTRYPOINT"), d.execForm(t, "CMD")
	if !slices.Equal(entry, []string{"packyard"}) {
		t.Errorf("ENTRYPOINT %q, want [packyard]", entry)
	}
	copied := false
	for _, ins := range d.final {
		f := strings.Fields(ins)
		if strings.EqualFold(f[0], "COPY") && path.Base(f[len(f)-1]) == "packyard" && slices.Contains([]string{"/usr/local/bin", "/usr/bin", "/bin"}, path.Dir(f[len(f)-1])) {
			copied = true
		}
	}
	if !copied {
		t.Error("no COPY puts packyard in a folder on the image's PATH")
	}
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("CMD %q does not start with serve", cmd)
	}
	help := mustPackyard(t, "serve", "--help").stdout
	flags := map[string]string{}
	for i := 1; i < len(cmd); i++ {
		name, ok := strings.CutPrefix(cmd[i], "--")
		if !ok {
			t.Fatalf("CMD %q: %q is not a flag", cmd, cmd[i])
		}
		if !regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(name) + `(\s|=|$)`).MatchString(help) {
			t.Errorf("CMD flag --%s is not a flag of packyard serve:\n%s", name, help)
		}
		if i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "--") {
			flags[name] = cmd[i+1]
			i++
		}
	}
	if got := d.instruction(t, "VOLUME"); !strings.Contains(got, `"`+flags["data"]+`"`) && got != flags["data"] {
		t.Errorf("VOLUME %s, but --data is %s", got, flags["data"])
	}
	host, port, err := net.SplitHostPort(flags["addr"])
	if err != nil || host != "0.0.0.0" {
		t.Errorf("--addr %q: want 0.0.0.0:PORT, reachable from outside the container", flags["addr"])
	}
	if exposed := strings.Fields(d.instruction(t, "EXPOSE")); !slices.Contains(exposed, port) {
		t.Errorf("EXPOSE %v lacks the registry port %s", exposed, port)
	}
	if user := d.instruction(t, "USER"); strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %s", user)
	}

	// The build stamps the version as the Makefile does.
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	whole := strings.Join(d.all, "\n")
	for _, m := range regexp.MustCompile(`-X (main\.\w+)=`).FindAllStringSubmatch(string(mk), -1) {
		if !strings.Contains(whole, "-X "+m[1]+"=") {
			t.Errorf("the Dockerfile's build does not set %s as the Makefile does", m[1])
		}
	}
	// The builder's Go is the go.mod's.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod); m == nil {
		t.Error("no go directive in go.mod")
	} else if !strings.Contains(whole, "ARG GO_VERSION="+string(m[1])) {
		t.Errorf("the Dockerfile's ARG GO_VERSION is not go.mod's Go release %s", m[1])
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "--mount=type=cache,target=/go/pkg/mod"} {
		if !strings.Contains(whole, want) {
			t.Errorf("the Dockerfile's build lacks %s", want)
		}
	}

	// The CMD runs, on a loopback port with the data in a temporary folder.
	if t.Failed() {
		return
	}
	args := slices.Clone(cmd)
	addr := freeLoopbackAddr(t)
	args[slices.Index(args, "--addr")+1] = addr
	args[slices.Index(args, "--data")+1] = filepath.Join(t.TempDir(), "data")
	p := startPackyard(t, args, nil, addr, nil, "")
	p.expectStatus(t, "/health", nil, http.StatusOK, `{"status":"UP"}`)
}

// The build context that .dockerignore leaves is enough to build packyard
// the way the Dockerfile does.
func TestDeployDockerContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packyard again: not in -short")
	}
	patterns := readDockerignore(t)
	for _, must := range []string{"go.mod", "go.sum", "cmd/packyard/main.go"} {
		if ignored(patterns, must) {
			t.Errorf(".dockerignore leaves out %s", must)
		}
	}
	ctxDir := t.TempDir()
	err := filepath.WalkDir(repoRoot, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignored(patterns, rel) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctxDir, filepath.FromSlash(rel))
		if e.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "packyard")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=v0.0.0-docker", "-o", out, "./cmd/packyard")
	build.Dir = ctxDir
	build.Env = append(baseEnv(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the build context .dockerignore leaves: %v\n%s", err, b)
	}
	res := mustRun(t, ctxDir, nil, out, "version")
	if !strings.Contains(res.stdout, "v0.0.0-docker") {
		t.Errorf("version: %s", res.stdout)
	}
}

func readDockerignore(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: this test does not read exceptions (%s)", line)
		}
		patterns = append(patterns, strings.TrimPrefix(path.Clean(line), "/"))
	}
	return patterns
}

// ignored says whether a pattern matches rel or a folder above it, as
// Docker reads .dockerignore for patterns without ** or exceptions.
func ignored(patterns []string, rel string) bool {
	for _, p := range patterns {
		for q := rel; q != "."; q = path.Dir(q) {
			if ok, _ := path.Match(p, q); ok {
				return true
			}
		}
	}
	return false
}
