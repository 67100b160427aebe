package protocol

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanName strips control characters (Unicode category Cc) and the
// bidirectional formatting characters from a display name and trims white
// space (Unicode White_Space). It reports false when the result is longer
// than MaxNameRunes. The browser's cleanName and nameFits in
// web/static/protocol.js do the same; testdata/clean_name_cases.json holds
// the cases both sides run.
func CleanName(s string) (string, bool) {
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || isBidiControl(c) {
			return -1
		}
		return c
	}, s)
	s = strings.TrimSpace(s)
	return s, utf8.RuneCountInString(s) <= MaxNameRunes
}

// isBidiControl reports the invisible characters that reorder text and could
// make one name look like another.
func isBidiControl(c rune) bool {
	return c == '\u200e' || c == '\u200f' || c == '\u061c' ||
		(c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069')
}
