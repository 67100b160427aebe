package cliflag

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unset", nil, nil},
		{"one", []string{"--item=a"}, []string{"a"}},
		{"repeated and split", []string{"--item=a,b", "--item", "c"}, []string{"a", "b", "c"}},
		{"blanks dropped, spaces trimmed", []string{"--item= a ,,b ,"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l List
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Var(&l, "item", "items")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l, tt.want) {
				t.Fatalf("after %q: %q, want %q", tt.args, l, tt.want)
			}
			if got, want := l.String(), strings.Join(tt.want, ","); got != want {
				t.Fatalf("String() = %q, want %q", got, want)
			}
		})
	}
}
