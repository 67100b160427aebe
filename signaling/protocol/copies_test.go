package protocol

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The other two copies of the protocol, relative to this package.
const (
	jsCopyPath = "../../web/static/protocol.js"
	mdCopyPath = "../PROTOCOL.md"
)

// TestCopiesAgree fails when this package, the browser's
// web/static/protocol.js and signaling/PROTOCOL.md name different message
// types, error codes or close codes. It reads the Go constants from this
// package's source, the JavaScript constants with a small parser and the
// markdown's tables.
func TestCopiesAgree(t *testing.T) {
	g := readGoCopy(t)
	js := readJSCopy(t, jsCopyPath)
	md := readMDCopy(t, mdCopyPath)

	var goBrowser, goServer, goFatal, goPairs, goCloses []string
	for typ := range fromBrowser {
		goBrowser = append(goBrowser, string(typ))
	}
	for typ := range fromServer {
		goServer = append(goServer, string(typ))
	}
	for code, closeCode := range closeCodes {
		goFatal = append(goFatal, string(code))
		goPairs = append(goPairs, pair(closeCode, string(code)))
		goCloses = append(goCloses, strconv.Itoa(closeCode))
	}
	var goCodes []string
	for _, code := range Codes {
		goCodes = append(goCodes, string(code))
	}
	var mdCloses []string
	for _, p := range md.fatal {
		mdCloses = append(mdCloses, strings.Fields(p)[0])
	}

	tests := []struct {
		what   string
		copies []copyOf
	}{
		{"message types", []copyOf{
			{"Go Type constants", g.types},
			{"Go fromBrowser and fromServer", append(slices.Clone(goBrowser), goServer...)},
			{"protocol.js FROM_BROWSER and FROM_SERVER", append(slices.Clone(js.fromBrowser), js.fromServer...)},
			{"PROTOCOL.md message tables", append(slices.Clone(md.fromBrowser), md.fromServer...)},
		}},
		{"message types from the browser", []copyOf{
			{"Go fromBrowser", goBrowser},
			{"protocol.js FROM_BROWSER", js.fromBrowser},
			{`PROTOCOL.md "Messages from the browser"`, md.fromBrowser},
		}},
		{"message types from the server", []copyOf{
			{"Go fromServer", goServer},
			{"protocol.js FROM_SERVER", js.fromServer},
			{`PROTOCOL.md "Messages from the server"`, md.fromServer},
		}},
		{"error codes", []copyOf{
			{"Go Code constants", g.codes},
			{"Go Codes", goCodes},
			{"protocol.js ERROR_CODES", js.codes},
			{"PROTOCOL.md error tables", append(slices.Clone(md.nonFatal), md.fatalCodes()...)},
		}},
		{"fatal error codes", []copyOf{
			{"Go closeCodes", goFatal},
			{"protocol.js FATAL_CODES", js.fatal},
			{"PROTOCOL.md fatal error table", md.fatalCodes()},
		}},
		{"close codes", []copyOf{
			{"Go Close constants", g.closeValues()},
			{"Go closeCodes", goCloses},
			{"protocol.js Close", js.closeValues()},
			{"protocol.js FATAL_CLOSE", js.fatalCloseCodes()},
			{"PROTOCOL.md fatal error table", mdCloses},
		}},
		{"close code names", []copyOf{
			{"Go Close constants", g.closes},
			{"protocol.js Close", js.closes},
		}},
		{"error codes of each close code", []copyOf{
			{"Go closeCodes", goPairs},
			{"PROTOCOL.md fatal error table", md.fatal},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			agree(t, tt.copies...)
		})
	}
	// FATAL_CLOSE names one error code per close code (4000 has two).
	t.Run("protocol.js FATAL_CLOSE", func(t *testing.T) {
		for _, p := range js.fatalClose {
			if !slices.Contains(goPairs, p) {
				t.Errorf("FATAL_CLOSE has %q, which Go's closeCodes does not", p)
			}
		}
	})
}

// copyOf is what one copy of the protocol lists.
type copyOf struct {
	name  string
	items []string
}

// agree reports every item that a copy has and the first does not, and
// every item the first has and a copy lacks.
func agree(t *testing.T, copies ...copyOf) {
	t.Helper()
	first := copies[0]
	if len(first.items) == 0 {
		t.Fatalf("%s: nothing found", first.name)
	}
	for _, c := range copies[1:] {
		if missing := minus(first.items, c.items); len(missing) > 0 {
			t.Errorf("%s lacks %q, which %s has", c.name, missing, first.name)
		}
		if extra := minus(c.items, first.items); len(extra) > 0 {
			t.Errorf("%s has %q, which %s lacks", c.name, extra, first.name)
		}
	}
}

// minus returns the items of a that are not in b, sorted and without repeats.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// pair is "4001 link-invalid".
func pair(closeCode int, code string) string { return fmt.Sprintf("%d %s", closeCode, code) }

// valuesOf returns the numbers of "NAME=4001" items.
func valuesOf(named []string) []string {
	var out []string
	for _, n := range named {
		_, v, _ := strings.Cut(n, "=")
		out = append(out, v)
	}
	return out
}

// goCopy is what this package's source declares.
type goCopy struct {
	types  []string // values of the constants of type Type
	codes  []string // values of the constants of type Code
	closes []string // "LINK_INVALID=4001" for CloseLinkInvalid, in JavaScript's spelling
}

func (g goCopy) closeValues() []string { return valuesOf(g.closes) }

// readGoCopy parses the package's non-test files for its constants, so a
// constant missing from fromBrowser, fromServer, Codes or closeCodes is found.
func readGoCopy(t *testing.T) goCopy {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var g goCopy
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, ident := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						continue
					}
					typeName := ""
					if id, ok := vs.Type.(*ast.Ident); ok {
						typeName = id.Name
					}
					switch {
					case typeName == "Type" && lit.Kind == token.STRING:
						g.types = append(g.types, unquote(t, lit.Value))
					case typeName == "Code" && lit.Kind == token.STRING:
						g.codes = append(g.codes, unquote(t, lit.Value))
					case strings.HasPrefix(ident.Name, "Close") && lit.Kind == token.INT:
						g.closes = append(g.closes, screamingSnake(strings.TrimPrefix(ident.Name, "Close"))+"="+lit.Value)
					}
				}
			}
		}
	}
	return g
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	v, err := strconv.Unquote(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screamingSnake turns "LinkInvalid" into "LINK_INVALID".
func screamingSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// jsCopy is what protocol.js exports.
type jsCopy struct {
	fromBrowser, fromServer []string // FROM_BROWSER, FROM_SERVER
	codes, fatal            []string // ERROR_CODES, FATAL_CODES
	closes                  []string // Close as "LINK_INVALID=4001"
	fatalClose              []string // FATAL_CLOSE as "4001 link-invalid"
}

func (j jsCopy) closeValues() []string { return valuesOf(j.closes) }

func (j jsCopy) fatalCloseCodes() []string {
	var out []string
	for _, p := range j.fatalClose {
		out = append(out, strings.Fields(p)[0])
	}
	return out
}

var (
	jsString    = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	jsNumber    = regexp.MustCompile(`\b([A-Z_]+):\s*(\d+)`)
	jsCloseCode = regexp.MustCompile(`\[Close\.([A-Z_]+)\]:\s*"([^"]*)"`)
	jsComment   = regexp.MustCompile(`(?s)/\*.*?\*/`)
)

// readJSCopy reads the exported constants of protocol.js.
func readJSCopy(t *testing.T, path string) jsCopy {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	strs := func(name string) []string {
		var out []string
		for _, m := range jsString.FindAllStringSubmatch(jsConst(t, src, name), -1) {
			out = append(out, unquote(t, `"`+m[1]+`"`))
		}
		return out
	}
	j := jsCopy{
		fromBrowser: strs("FROM_BROWSER"),
		fromServer:  strs("FROM_SERVER"),
		codes:       strs("ERROR_CODES"),
		fatal:       strs("FATAL_CODES"),
	}
	closeByName := map[string]string{}
	for _, m := range jsNumber.FindAllStringSubmatch(jsConst(t, src, "Close"), -1) {
		j.closes = append(j.closes, m[1]+"="+m[2])
		closeByName[m[1]] = m[2]
	}
	for _, m := range jsCloseCode.FindAllStringSubmatch(jsConst(t, src, "FATAL_CLOSE"), -1) {
		v, ok := closeByName[m[1]]
		if !ok {
			t.Errorf("protocol.js: FATAL_CLOSE names Close.%s, which Close does not have", m[1])
		}
		j.fatalClose = append(j.fatalClose, v+" "+m[2])
	}
	return j
}

// jsConst returns the initializer of "export const name = ...;" without
// comments: everything up to the first semicolon outside brackets, strings
// and comments.
func jsConst(t *testing.T, src, name string) string {
	t.Helper()
	decl := "export const " + name + " = "
	start := strings.Index(src, decl)
	if start < 0 {
		t.Fatalf("protocol.js has no %q", strings.TrimSpace(decl))
	}
	start += len(decl)
	depth := 0
	for i := start; i < len(src); i++ {
		switch c := src[i]; {
		case c == '"':
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i:], "*/")
			if end < 0 {
				t.Fatalf("protocol.js: unterminated comment in %s", name)
			}
			i += end + 1
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.ContainsRune("([{", rune(c)):
			depth++
		case strings.ContainsRune(")]}", rune(c)):
			depth--
		case c == ';' && depth == 0:
			return jsComment.ReplaceAllString(src[start:i], "")
		}
	}
	t.Fatalf("protocol.js: no end of %s", name)
	return ""
}

// mdCopy is what PROTOCOL.md's tables list.
type mdCopy struct {
	fromBrowser, fromServer []string // first column of the message tables
	nonFatal                []string // the error table with the column "code"
	fatal                   []string // the table with "close code": "4001 link-invalid"
}

func (m mdCopy) fatalCodes() []string {
	var out []string
	for _, p := range m.fatal {
		out = append(out, strings.Fields(p)[1])
	}
	return out
}

var mdCode = regexp.MustCompile("`([^`]+)`")

// readMDCopy reads the tables of PROTOCOL.md's sections "Messages from the
// browser", "Messages from the server" and "Errors".
func readMDCopy(t *testing.T, path string) mdCopy {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m mdCopy
	codes := func(cell string) []string {
		var out []string
		for _, c := range mdCode.FindAllStringSubmatch(cell, -1) {
			out = append(out, c[1])
		}
		return out
	}
	for _, tbl := range mdTables(string(raw)) {
		header := tbl.rows[0]
		for _, row := range tbl.rows[1:] {
			switch {
			case tbl.section == "Messages from the browser":
				m.fromBrowser = append(m.fromBrowser, codes(row[0])...)
			case tbl.section == "Messages from the server":
				m.fromServer = append(m.fromServer, codes(row[0])...)
			case tbl.section == "Errors" && header[0] == "code":
				m.nonFatal = append(m.nonFatal, codes(row[0])...)
			case tbl.section == "Errors" && header[0] == "close code":
				closeCode, err := strconv.Atoi(row[0])
				if err != nil {
					t.Fatalf("PROTOCOL.md: close code %q: %v", row[0], err)
				}
				for _, code := range codes(row[1]) {
					m.fatal = append(m.fatal, pair(closeCode, code))
				}
			}
		}
	}
	for name, items := range map[string][]string{
		"Messages from the browser": m.fromBrowser, "Messages from the server": m.fromServer,
		"Errors (code)": m.nonFatal, "Errors (close code)": m.fatal,
	} {
		if len(items) == 0 {
			t.Fatalf("PROTOCOL.md: no table found for %s", name)
		}
	}
	return m
}

// mdTable is one markdown table: its section and its rows of cells, the
// header first, without the separator line.
type mdTable struct {
	section string
	rows    [][]string
}

// mdTables returns the tables of a markdown document with the "## " heading
// each is under.
func mdTables(doc string) []mdTable {
	var tables []mdTable
	section := ""
	inTable := false
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		if !inTable {
			tables = append(tables, mdTable{section: section})
			inTable = true
		}
		// An escaped \| is part of a cell.
		line = strings.ReplaceAll(strings.Trim(line, "| "), `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(line, "|") {
			cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator line
		}
		tbl := &tables[len(tables)-1]
		tbl.rows = append(tbl.rows, cells)
	}
	return tables
}
