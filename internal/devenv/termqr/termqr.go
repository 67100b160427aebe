// Package termqr draws a QR code in a terminal, so that a phone's camera
// can open a link printed by the local setup. Each character cell holds two
// modules, one above the other (▀ ▄ █), in black on white whatever the
// terminal's colours, with a quiet zone around the code.
package termqr

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// QuietZone is the light border around the code, in modules.
const QuietZone = 2

// The escape sequences around each line: black on white, then the
// terminal's own colours again.
const (
	blackOnWhite = "\x1b[30;47m"
	reset        = "\x1b[0m"
)

// Render returns text as a QR code (error correction level M), one line
// per two rows of modules, each line ending in a newline.
func Render(text string) (string, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("qr code: %w", err)
	}
	size := code.Size + 2*QuietZone
	dark := func(x, y int) bool {
		x, y = x-QuietZone, y-QuietZone
		return x >= 0 && y >= 0 && x < code.Size && y < code.Size && code.Black(x, y)
	}
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		b.WriteString(blackOnWhite)
		for x := range size {
			b.WriteString(cell(dark(x, y), dark(x, y+1)))
		}
		b.WriteString(reset + "\n")
	}
	return b.String(), nil
}

// cell is the character for two modules, top and bottom.
func cell(top, bottom bool) string {
	switch {
	case top && bottom:
		return "█"
	case top:
		return "▀"
	case bottom:
		return "▄"
	}
	return " "
}
