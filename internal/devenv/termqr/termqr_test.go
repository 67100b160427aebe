package termqr_test

import (
	"strings"
	"testing"

	"rsc.io/qr"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv/termqr"
)

// TestRenderIsTheCode reads the terminal picture back, module by module,
// and compares it with the QR code of the text: what a phone's camera sees
// is the code, with a light quiet zone all round.
func TestRenderIsTheCode(t *testing.T) {
	tests := []struct{ name, text string }{
		{"client link", "https://192.168.178.23:8443/r/sprechzimmer-demo-demo-0a1b2c3d/#t=Zq3vR8x1mN0pL5kT7yW2cB9dF4gH6jS-uE_aQ"},
		{"short", "https://10.0.0.2:8443/sprechzimmer-dev-ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := termqr.Render(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			want, err := qr.Encode(tt.text, qr.M)
			if err != nil {
				t.Fatal(err)
			}
			got := readBack(t, out)
			size := want.Size + 2*termqr.QuietZone
			if len(got) < size || len(got) > size+1 {
				t.Fatalf("%d rows of modules, want %d", len(got), size)
			}
			for y := range size {
				if len(got[y]) != size {
					t.Fatalf("row %d has %d modules, want %d", y, len(got[y]), size)
				}
				for x := range size {
					cx, cy := x-termqr.QuietZone, y-termqr.QuietZone
					inside := cx >= 0 && cy >= 0 && cx < want.Size && cy < want.Size
					if wantDark := inside && want.Black(cx, cy); got[y][x] != wantDark {
						t.Fatalf("module (%d,%d) dark=%v, want %v", x, y, got[y][x], wantDark)
					}
				}
			}
		})
	}
}

// readBack turns the rendered lines into rows of modules (true = dark).
func readBack(t *testing.T, out string) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "\x1b[30;47m") || !strings.HasSuffix(line, "\x1b[0m") {
			t.Fatalf("line %q is not black on white", line)
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "\x1b[30;47m"), "\x1b[0m")
		var top, bottom []bool
		for _, r := range line {
			switch r {
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("unexpected character %q", r)
			}
		}
		rows = append(rows, top, bottom)
	}
	return rows
}
