// Package cliflag holds the command-line flag types the commands share.
package cliflag

import "strings"

// List is a repeatable, comma-separated string flag: --namespace=a,b
// --namespace c gives [a b c]. Blank items are dropped. Register it with
// flag.Var.
type List []string

// String returns the items joined by commas.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated items of v.
func (l *List) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
