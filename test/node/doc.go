// Package node holds the end-to-end test on a real node: the single-node
// cluster of hack/cluster-up.sh (kubelet on containerd and runc, the real
// controller-manager and its garbage collector), the product installed as
// docs/install.md tells a platform team, and a room as a real Pod that two
// Chromium pages meet in.
package node
