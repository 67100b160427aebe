package protocol

import (
	"slices"
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

// NameProblem says why a cleaned display name is refused; NameOK means it
// is not. The browser's checkName in web/static/protocol.js returns the
// same strings for the same names (testdata/clean_name_cases.json).
type NameProblem string

const (
	// NameOK is a name that may be shown.
	NameOK NameProblem = ""
	// NameTooLong is longer than MaxNameRunes.
	NameTooLong NameProblem = "too-long"
	// NameMostlyMarks is more than half combining marks, or stacks more
	// than MaxMarkRun of them on one character: a name that paints over
	// the page around it.
	NameMostlyMarks NameProblem = "marks"
	// NameImitatesRole is, or has a word that is, one of RoleWords: a name
	// that would pass for the page's own labels or for the other role.
	NameImitatesRole NameProblem = "role"
)

// MaxMarkRun is the most combining marks (Unicode Mn and Me) a name may
// stack on one character; pointed Hebrew, Thai and decomposed Vietnamese
// need up to three.
const MaxMarkRun = 3

// RoleWords are the words a display name may not be or contain as a word,
// compared as roleForm sees them. The browser's ROLE_WORDS is the same list.
var RoleWords = []string{
	"therapeut", "therapeutin", "therapist", "klient", "klientin", "client",
	"sprechzimmer", "admin", "administrator", "system",
}

// CheckName reports what is wrong with a name that CleanName has cleaned:
// too long, mostly combining marks, or imitating a role.
func CheckName(name string) NameProblem {
	runes := []rune(name)
	if len(runes) > MaxNameRunes {
		return NameTooLong
	}
	marks, run := 0, 0
	for _, c := range runes {
		if !isMark(c) {
			run = 0
			continue
		}
		marks++
		if run++; run > MaxMarkRun {
			return NameMostlyMarks
		}
	}
	if 2*marks > len(runes) {
		return NameMostlyMarks
	}
	words := strings.FieldsFunc(name, func(c rune) bool { return !unicode.IsLetter(c) && !isMark(c) })
	for _, w := range append(words, strings.Join(words, "")) {
		if slices.Contains(RoleWords, roleForm(w)) {
			return NameImitatesRole
		}
	}
	return NameOK
}

// isMark reports a combining mark that sits on the character before it
// (Unicode categories Mn and Me).
func isMark(c rune) bool { return unicode.In(c, unicode.Mn, unicode.Me) }

// roleForm is how a word is compared with RoleWords: lower case, without
// combining marks, with the Cyrillic and Greek letters that look like Latin
// ones replaced by those.
func roleForm(w string) string {
	var b strings.Builder
	for _, c := range w {
		if isMark(c) {
			continue
		}
		c = unicode.ToLower(c)
		if l, ok := lookAlikes[c]; ok {
			c = l
		}
		b.WriteRune(c)
	}
	return b.String()
}

// lookAlikes maps lower-case Cyrillic and Greek letters whose lower- or
// upper-case form looks like a Latin letter to that letter. The browser's
// LOOK_ALIKES is the same table.
var lookAlikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ѕ': 's', 'ј': 'j', 'ӏ': 'l',
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'h', 'ι': 'i', 'κ': 'k', 'μ': 'm', 'ν': 'n',
	'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'y', 'χ': 'x', 'ζ': 'z',
}
