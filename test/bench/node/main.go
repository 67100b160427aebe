// Command node measures rooms on the real single-node cluster (make
// bench-node; hack/cluster-up.sh, docs/cluster.md), with the product
// installed as docs/install.md says:
//
//   - opening: for sessions that open when they are created, the time from
//     the create call to the room Pod's Ready condition, seen by a watch;
//     first one after another, then many created at once;
//   - memory per open room on the node: the Pod's cgroup (room container
//     and pause), its containerd shim (proportional set size), and its
//     share of the kubelet's and containerd's growth while the rooms opened;
//   - how many rooms the node holds: its allocatable Pods, CPU and memory
//     against what runs besides the rooms and what a room requests.
//
// It prints a table. It uses the cluster that is up, or brings one up and
// takes it down again, and installs the product when it is not there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testcluster"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

func main() {
	sequential := flag.Int("sequential", 20, "rooms opened one after another")
	concurrent := flag.Int("concurrent", 100, "rooms opened at once")
	flag.Parse()
	if err := run(*sequential, *concurrent); err != nil {
		fmt.Fprintln(os.Stderr, "bench-node:", err)
		os.Exit(1)
	}
}

func run(sequential, concurrent int) (err error) {
	ctx := context.Background()
	cluster, err := testcluster.Up(ctx)
	if err != nil {
		return err
	}
	if !cluster.Reused {
		defer func() { err = errors.Join(err, cluster.Down(context.Background())) }()
	}
	// As a portal creating a day's sessions would: no client-side
	// throttling in the measured times (client-go's default is 5/s).
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	api, err := client.NewWithWatch(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return err
	}
	if err := api.Get(ctx, client.ObjectKey{Name: testcluster.RoomNamespace}, &corev1.Namespace{}); apierrors.IsNotFound(err) {
		fmt.Fprintln(os.Stderr, "bench-node: installing as docs/install.md says")
		if err := cluster.Install(ctx); err != nil {
			return err
		}
	}
	b := &bench{api: api}
	// What an earlier, interrupted run left goes first.
	if err := api.DeleteAllOf(ctx, &videov1alpha1.VideoSession{}, client.InNamespace(testcluster.RoomNamespace)); err != nil {
		return err
	}
	if err := b.closeAll(ctx); err != nil {
		return err
	}

	seq, err := b.open(ctx, "seq", sequential, false)
	if err != nil {
		return err
	}
	if err := b.closeAll(ctx); err != nil {
		return err
	}
	before := nodeProcessesPSS()
	conc, err := b.open(ctx, "conc", concurrent, true)
	if err != nil {
		return err
	}
	mem, err := b.memory(ctx, before, concurrent)
	if err != nil {
		return err
	}
	capacity, bound, err := b.capacity(ctx)
	if err != nil {
		return err
	}
	if err := b.closeAll(ctx); err != nil {
		return err
	}

	fmt.Printf("\n| measure | value |\n|---|---:|\n")
	fmt.Printf("| room opening -> Pod Ready, %d one after another: p50 / p99 | %s / %s |\n", sequential, ms(seq.Percentile(50)), ms(seq.Percentile(99)))
	fmt.Printf("| room opening -> Pod Ready, %d at once: p50 / p99 / max | %s / %s / %s |\n", concurrent, ms(conc.Percentile(50)), ms(conc.Percentile(99)), ms(conc.Max()))
	fmt.Printf("| memory per open room: Pod cgroup (room + pause) | %s |\n", mib(mem.pod))
	fmt.Printf("| memory per open room: containerd shim | %s |\n", mib(mem.shim))
	fmt.Printf("| memory per open room: share of kubelet + containerd growth | %s |\n", mib(mem.nodeShare))
	fmt.Printf("| memory per open room: total | %s |\n", mib(mem.pod+mem.shim+mem.nodeShare))
	fmt.Printf("| rooms this node holds (default limits) | %d, bound by %s |\n", capacity, bound)
	return nil
}

// bench creates sessions and watches their rooms.
type bench struct {
	api     client.WithWatch
	created []*videov1alpha1.VideoSession
}

// open creates n sessions, all at once or one after another (each once
// the previous room is Ready), and returns for each the time from its
// create call to its room Pod's Ready condition, seen by a watch.
func (b *bench) open(ctx context.Context, prefix string, n int, atOnce bool) (sample.Sample, error) {
	w, err := b.api.Watch(ctx, &corev1.PodList{}, client.InNamespace(testcluster.RoomNamespace),
		client.MatchingLabels{roomcontract.LabelComponent: roomcontract.ComponentRoom})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	started := map[string]time.Time{}
	readyIn := map[string]time.Duration{}
	ready := map[string]chan struct{}{}
	for i := range n {
		ready[name(prefix, i)] = make(chan struct{})
	}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || !testcluster.PodReady(pod) {
				continue
			}
			session := pod.Labels[roomcontract.LabelSession]
			mu.Lock()
			if t0, known := started[session]; known {
				if _, seen := readyIn[session]; !seen {
					readyIn[session] = time.Since(t0)
					close(ready[session])
				}
			}
			mu.Unlock()
		}
	}()

	errs := make(chan error, n)
	create := func(i int) {
		s := session(name(prefix, i))
		mu.Lock()
		started[s.Name] = time.Now()
		mu.Unlock()
		if err := b.api.Create(ctx, s); err != nil {
			errs <- err
			return
		}
		mu.Lock()
		b.created = append(b.created, s)
		mu.Unlock()
	}
	timeout := time.After(10 * time.Minute)
	wait := func(i int) error {
		select {
		case <-ready[name(prefix, i)]:
			return nil
		case err := <-errs:
			return err
		case <-timeout:
			return fmt.Errorf("rooms not Ready after 10 minutes (%d of %d are)", len(readyIn), n)
		}
	}
	for i := range n {
		if atOnce {
			go create(i)
			continue
		}
		create(i)
		if err := wait(i); err != nil {
			return nil, err
		}
	}
	for i := range n {
		if err := wait(i); err != nil {
			return nil, err
		}
	}
	mu.Lock()
	defer mu.Unlock()
	out := make(sample.Sample, 0, n)
	for _, d := range readyIn {
		out = append(out, d)
	}
	return out, nil
}

// name is the i-th session of a series.
func name(prefix string, i int) string { return fmt.Sprintf("bench-%s-%03d", prefix, i) }

// closeAll deletes every session it created and waits until their rooms'
// Pods are gone.
func (b *bench) closeAll(ctx context.Context) error {
	for _, s := range b.created {
		if err := b.api.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	b.created = nil
	deadline := time.Now().Add(5 * time.Minute)
	for {
		pods := &corev1.PodList{}
		if err := b.api.List(ctx, pods, client.InNamespace(testcluster.RoomNamespace)); err != nil {
			return err
		}
		if len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d room Pods still there 5 minutes after their sessions were deleted", len(pods.Items))
		}
		time.Sleep(time.Second)
	}
}

// session is a session that opens now and lives the shortest time allowed.
func session(name string) *videov1alpha1.VideoSession {
	return &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: testcluster.RoomNamespace, Name: name},
		Spec: videov1alpha1.VideoSessionSpec{
			StartTime: metav1.NewTime(time.Now().Truncate(time.Second)),
			ValidFor:  &metav1.Duration{Duration: 15 * time.Minute},
		},
	}
}

// perRoom is the memory one open room costs the node, in bytes.
type perRoom struct{ pod, shim, nodeShare int64 }

// memory reads the open rooms' Pod cgroups and shims and the growth of
// the kubelet's and containerd's proportional memory since before.
func (b *bench) memory(ctx context.Context, before int64, rooms int) (perRoom, error) {
	pods := &corev1.PodList{}
	if err := b.api.List(ctx, pods, client.InNamespace(testcluster.RoomNamespace)); err != nil {
		return perRoom{}, err
	}
	var total int64
	for _, p := range pods.Items {
		ws, err := podWorkingSet(p.UID)
		if err != nil {
			return perRoom{}, err
		}
		total += ws
	}
	n := int64(len(pods.Items))
	if n == 0 {
		return perRoom{}, errors.New("no room Pods to measure")
	}
	allPods := &corev1.PodList{}
	if err := b.api.List(ctx, allPods); err != nil {
		return perRoom{}, err
	}
	shims := processesPSS("containerd-shim-runc-v2")
	return perRoom{
		pod:       total / n,
		shim:      shims / int64(len(allPods.Items)),
		nodeShare: max(nodeProcessesPSS()-before, 0) / int64(rooms),
	}, nil
}

// capacity is how many rooms fit beside what runs now (rooms excluded),
// and what bounds it.
func (b *bench) capacity(ctx context.Context) (int64, string, error) {
	nodes := &corev1.NodeList{}
	if err := b.api.List(ctx, nodes); err != nil {
		return 0, "", err
	}
	if len(nodes.Items) != 1 {
		return 0, "", fmt.Errorf("%d nodes, want one", len(nodes.Items))
	}
	alloc := nodes.Items[0].Status.Allocatable
	pods := &corev1.PodList{}
	if err := b.api.List(ctx, pods); err != nil {
		return 0, "", err
	}
	var room *corev1.Pod
	others := 0
	used := corev1.ResourceList{corev1.ResourceCPU: resource.Quantity{}, corev1.ResourceMemory: resource.Quantity{}}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Labels[roomcontract.LabelComponent] == roomcontract.ComponentRoom {
			room = p
			continue
		}
		others++
		for _, c := range p.Spec.Containers {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				q := used[r]
				q.Add(c.Resources.Requests[r])
				used[r] = q
			}
		}
	}
	if room == nil {
		return 0, "", errors.New("no room Pod to read requests from")
	}
	bounds := map[string]int64{"the Pod limit (" + alloc.Pods().String() + ")": alloc.Pods().Value() - int64(others)}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req := room.Spec.Containers[0].Resources.Requests[r]
		free := alloc[r]
		free.Sub(used[r])
		if req.MilliValue() > 0 {
			bounds[fmt.Sprintf("%s requests (%s each)", r, req.String())] = free.MilliValue() / req.MilliValue()
		}
	}
	best, bound := int64(-1), ""
	for name, n := range bounds {
		if best < 0 || n < best {
			best, bound = n, name
		}
	}
	return best, bound, nil
}

// podWorkingSet is the Pod cgroup's memory usage less its inactive file
// cache, as the kubelet counts it (cgroup v1, the cgroupfs driver).
func podWorkingSet(uid types.UID) (int64, error) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/*/pod" + string(uid))
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/pod" + string(uid))
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		return 0, fmt.Errorf("no memory cgroup for Pod %s", uid)
	}
	usage, err := readInt(filepath.Join(dirs[0], "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile(filepath.Join(dirs[0], "memory.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "total_inactive_file "); ok {
			inactive, _ := strconv.ParseInt(v, 10, 64)
			return max(usage-inactive, 0), nil
		}
	}
	return usage, nil
}

// nodeProcessesPSS is the proportional memory of the kubelet and containerd.
func nodeProcessesPSS() int64 { return processesPSS("kubelet") + processesPSS("containerd") }

// processesPSS sums the proportional set size (Pss: resident memory, pages
// shared with other processes divided among them) of the processes whose
// command name is comm: the shims share their binary's pages.
func processesPSS(comm string) int64 {
	var total int64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		name, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(name)) != truncateComm(comm) {
			continue
		}
		rollup, err := os.ReadFile(filepath.Join("/proc", e.Name(), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(rollup), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb * 1024
			}
		}
	}
	return total
}

// truncateComm is comm as the kernel keeps it: at most 15 bytes.
func truncateComm(comm string) string { return comm[:min(len(comm), 15)] }

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
