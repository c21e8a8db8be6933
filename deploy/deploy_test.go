// Package deploy holds no code: its tests check the deployment files in
// this directory against what siembridge serves and accepts, so that a
// renamed endpoint, a moved port or a new config rule cannot leave the
// manifests or the systemd unit silently broken.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const k8sDir = "kubernetes"

// The parts of the Kubernetes objects the checks read; yaml.v3 ignores the
// rest.
type (
	object struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`       // ConfigMap
		StringData map[string]string `yaml:"stringData"` // Secret
		Spec       spec              `yaml:"spec"`
	}
	spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		MaxUnavailable             *int   `yaml:"maxUnavailable"` // PodDisruptionBudget
		MinAvailable               *int   `yaml:"minAvailable"`
		UnhealthyPodEvictionPolicy string `yaml:"unhealthyPodEvictionPolicy"`
		Template                   struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds int64 `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsUser    int64 `yaml:"runAsUser"`
			RunAsNonRoot bool  `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	}
	container struct {
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			SecretRef struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"` // a number or a port name
		} `yaml:"httpGet"`
	}
)

// loadManifests parses every document of every resource kustomization.yaml
// lists, and checks that the list names every manifest of the directory.
func loadManifests(t *testing.T) map[string]object {
	t.Helper()
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	listed := map[string]bool{}
	byKind := map[string]object{}
	for _, res := range kust.Resources {
		listed[res] = true
		b, err := os.ReadFile(filepath.Join(k8sDir, res))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", res, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s, document %d: %v", res, i, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s, document %d: apiVersion, kind and metadata.name are required", res, i)
			}
			if _, dup := byKind[o.Kind]; dup {
				t.Fatalf("%s: a second %s; the checks expect one of each kind", res, o.Kind)
			}
			byKind[o.Kind] = o
		}
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !listed[base] {
			t.Errorf("%s is not in kustomization.yaml's resources", base)
		}
	}
	for _, kind := range []string{"Deployment", "ConfigMap", "Secret", "PodDisruptionBudget"} {
		if _, ok := byKind[kind]; !ok {
			t.Fatalf("no %s among the manifests", kind)
		}
	}
	return byKind
}

// TestKubernetesManifests holds the manifests to what the binary does: the
// ConfigMap's configuration loads with the Secret's variables, the probes
// reach the port metrics.listen binds, the pod waits longer than
// shutdown_timeout, and the selectors pick the pods.
func TestKubernetesManifests(t *testing.T) {
	objs := loadManifests(t)
	dep, cm, sec, pdb := objs["Deployment"], objs["ConfigMap"], objs["Secret"], objs["PodDisruptionBudget"]
	pod := dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("Deployment: %d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// Selectors.
	if !subset(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels) || len(dep.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("Deployment selector %v does not select its pods %v", dep.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	if !subset(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods %v", pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels)
	}
	if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
		t.Errorf("PodDisruptionBudget: set exactly one of maxUnavailable and minAvailable")
	}
	// Every replica is unready while a sink is down: the budget must not
	// hold a node drain until the SIEM is back.
	if pdb.Spec.UnhealthyPodEvictionPolicy != "AlwaysAllow" {
		t.Errorf("PodDisruptionBudget unhealthyPodEvictionPolicy %q, want AlwaysAllow", pdb.Spec.UnhealthyPodEvictionPolicy)
	}

	// The configuration: mounted where --config points, loadable with the
	// Secret's keys as the environment.
	cfgPath := flagValue(c.Args, "--config")
	file, ok := mountedConfigMapFile(pod.Spec, c, cm.Metadata.Name, cfgPath)
	if !ok {
		t.Fatalf("--config %q is not a file of ConfigMap %s mounted into the container", cfgPath, cm.Metadata.Name)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != sec.Metadata.Name {
		t.Errorf("the container's envFrom must be Secret %s", sec.Metadata.Name)
	}
	for k, v := range sec.StringData {
		t.Setenv(k, v)
	}
	cfg := loadConfig(t, cm.Data[file])

	// The probes: named paths on the container port metrics.listen binds
	// outside loopback.
	host, port, err := net.SplitHostPort(cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", cfg.Metrics.Listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() {
		t.Errorf("metrics.listen %q: the kubelet cannot reach a loopback listener; bind 0.0.0.0", cfg.Metrics.Listen)
	}
	for _, p := range []struct {
		name, path string
		probe      *probe
	}{{"livenessProbe", "/healthz", c.LivenessProbe}, {"readinessProbe", "/readyz", c.ReadinessProbe}} {
		if p.probe == nil {
			t.Errorf("%s missing", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := containerPort(c, p.probe.HTTPGet.Port); strconv.Itoa(got) != port {
			t.Errorf("%s port %v is container port %d; metrics.listen binds %s", p.name, p.probe.HTTPGet.Port, got, port)
		}
	}
	checkProbesServed(t, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)

	// Shutdown and user.
	if grace := time.Duration(pod.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= cfg.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %s must exceed shutdown_timeout %s, or the kubelet kills a draining pod", grace, cfg.ShutdownTimeout)
	}
	if uid := dockerfileUID(t); !pod.Spec.SecurityContext.RunAsNonRoot || pod.Spec.SecurityContext.RunAsUser != uid {
		t.Errorf("pod securityContext: runAsNonRoot %v, runAsUser %d; the image's USER is %d",
			pod.Spec.SecurityContext.RunAsNonRoot, pod.Spec.SecurityContext.RunAsUser, uid)
	}
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// flagValue returns the value after flag in args ("" when absent).
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// mountedConfigMapFile returns the ConfigMap key that path names inside
// the container, when the ConfigMap is mounted as a directory above it.
func mountedConfigMapFile(ps podSpec, c container, cmName, path string) (string, bool) {
	for _, v := range ps.Volumes {
		if v.ConfigMap.Name != cmName {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && filepath.Dir(path) == filepath.Clean(m.MountPath) {
				return filepath.Base(path), true
			}
		}
	}
	return "", false
}

// loadConfig writes data to a file and loads it as `siembridge run` does.
func loadConfig(t *testing.T, data string) *config.Config {
	t.Helper()
	if data == "" {
		t.Fatal("the ConfigMap holds no configuration under that key")
	}
	path := filepath.Join(t.TempDir(), "siembridge.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not load: %v", err)
	}
	return cfg
}

// containerPort resolves a probe's port (a number or a port name) to the
// container port number; 0 when it names none.
func containerPort(c container, port any) int {
	switch p := port.(type) {
	case int:
		return p
	case string:
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// probeSource is a metrics.Source whose health the test sets.
type probeSource struct{ st bridge.Stats }

func (s *probeSource) Stats() bridge.Stats { return s.st }
func (s *probeSource) Ready() bool         { return s.st.Ready }

// checkProbesServed asks a real metrics.Server the probes' paths: each
// must answer 200 when all is well and 503 when what it watches fails.
func checkProbesServed(t *testing.T, live, ready string) {
	t.Helper()
	src := &probeSource{st: bridge.Stats{Ready: true, Healthy: true, Running: true,
		Routes: []bridge.RouteStats{{Name: "elastic", Joined: true, SinkState: "up"}}}}
	srv, err := metrics.NewServer(metrics.ServerConfig{Listen: "127.0.0.1:0"}, src, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("metrics server Close: %v", err)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	status := func(path string) int {
		resp, err := client.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for _, p := range []string{live, ready} {
		if got := status(p); got != http.StatusOK {
			t.Errorf("GET %s on a healthy, ready bridge = %d, want 200", p, got)
		}
	}
	src.st.Ready = false
	src.st.Routes[0].SinkState = "down"
	if got := status(ready); got != http.StatusServiceUnavailable {
		t.Errorf("GET %s with the sink down = %d, want 503", ready, got)
	}
	src.st.Routes[0].RunError = "cannot create consumer group"
	if got := status(live); got != http.StatusServiceUnavailable {
		t.Errorf("GET %s with a route that cannot run = %d, want 503", live, got)
	}
}

// dockerfileUID is the numeric user of the Dockerfile's USER line.
func dockerfileUID(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Dockerfile: no numeric USER line")
	}
	uid, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}
