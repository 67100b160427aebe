// Package memlimit says which soft memory limit (GOMEMLIMIT) the Go runtime
// of a container gets from the container's memory limit: 85 % of it, so that
// under load the program collects garbage harder before the kernel kills it.
package memlimit

import "k8s.io/apimachinery/pkg/api/resource"

// Percent is the share of the container's memory limit given to GOMEMLIMIT.
const Percent = 85

// For returns GOMEMLIMIT in bytes for a container memory limit.
func For(limit resource.Quantity) int64 { return limit.Value() / 100 * Percent }
