package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/sprechzimmer/sprechzimmer/internal/testcluster"
)

// TestCluster checks what the product relies on: the node is Ready, a Pod under the
// restricted Pod Security profile runs, a ClusterIP Service reaches a Pod.
func TestCluster(t *testing.T) {
	c := needCluster(t)
	ctx := t.Context()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("node Ready", func(t *testing.T) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 1 {
			t.Fatalf("%d nodes, want 1", len(nodes.Items))
		}
		if !nodeReady(&nodes.Items[0]) {
			t.Errorf("node %s not Ready", nodes.Items[0].Name)
		}
	})

	ns := restrictedNamespace(ctx, t, cs)

	t.Run("restricted Pod Running", func(t *testing.T) {
		pod := restrictedPod("pause", testcluster.Image("pause"))
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRunning(ctx, t, cs, ns, pod.Name)
	})

	t.Run("restricted profile enforced", func(t *testing.T) {
		pod := restrictedPod("root", testcluster.Image("pause"))
		pod.Spec.SecurityContext.RunAsNonRoot = nil
		pod.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("creating a root Pod in a restricted namespace: %v, want Forbidden", err)
		}
	})

	t.Run("ClusterIP Service reaches a Pod", func(t *testing.T) {
		image := testcluster.Image("turn")
		if !testcluster.HasImage(ctx, image) {
			t.Skipf("%s not imported (make images): no server to reach", image)
		}
		serviceReachesPod(ctx, t, cs, ns, image)
	})
}

// serviceReachesPod runs the TURN server (the project's image with the
// fewest needs) behind a ClusterIP Service and asks its /healthz through the
// Service's cluster IP from the host, which only kube-proxy's rules route.
func serviceReachesPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, image string) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "turn"},
		StringData: map[string]string{"secret": "testcluster-only-secret"},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := restrictedPod("turn", image)
	pod.Labels = map[string]string{"app": "turn"}
	pod.Spec.Containers[0].Args = []string{
		"-realm", "testcluster", "-secret-file", "/secret/secret",
		"-public-ip", "203.0.113.1", "-metrics-addr", ":9090",
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "secret", MountPath: "/secret", ReadOnly: true}}
	pod.Spec.Volumes = []corev1.Volume{{
		Name:         "secret",
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "turn"}},
	}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "turn"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "turn"},
			Ports:    []corev1.ServicePort{{Name: "metrics", Port: 80, TargetPort: intstr.FromInt32(9090)}},
		},
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRunning(ctx, t, cs, ns, pod.Name)

	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(80)) + "/healthz"
	// A fresh connection per attempt: until kube-proxy has written the
	// Service's rules, the cluster IP is routed out of the host, where this
	// machine's egress proxy answers 404 and keeps the connection alive. A
	// reused connection would stay on that path after the rules exist
	// (conntrack translates a connection once, when it opens), which is
	// how CI once saw 404 for a whole minute.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		last = getStatus(ctx, client, url)
		return last == "200 OK", nil
	})
	if err != nil {
		t.Fatalf("GET /healthz through the Service's cluster IP: %s, want 200 OK", last)
	}
}

// getStatus GETs url and returns the response's status, or what failed
// without the error's text (which would name the cluster IP).
func getStatus(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "bad request"
	}
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "no connection"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Status
}

// restrictedNamespace creates a namespace that enforces the restricted Pod
// Security profile, deleted when the test ends.
func restrictedNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "testcluster-",
			Labels:       map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// restrictedPod is a Pod with every setting the restricted profile asks for,
// a read-only root and a memory limit.
func restrictedPod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            name,
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
			}},
		},
	}
}

// waitRunning waits up to a minute for the Pod to be Running.
func waitRunning(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var phase corev1.PodPhase
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = pod.Status.Phase
		return phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("Pod %s: %s, want Running: %v", name, phase, err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
