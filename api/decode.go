package api

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"sigs.k8s.io/yaml"
)

// Document is one object read from a manifest, with where it came from.
type Document struct {
	// Source is the file the object was read from, or "-" for stdin.
	Source string
	// Index is the 1-based number of the document in the file. Empty and
	// comment-only documents are not counted. Every item of a List (or of a
	// top-level JSON array) carries the number of the document holding it.
	Index int
	// Object is the decoded object. Its TypeMeta is filled in; nothing else
	// is defaulted (an empty namespace stays empty).
	Object Object
}

// manifestMaxSourceBytes is the most ReadManifests reads from one file or
// from stdin. Single documents are limited to MaxBodyBytes.
const manifestMaxSourceBytes = 64 << 20

// manifestMaxProblems caps the number of problems one error reports.
const manifestMaxProblems = 100

// manifestMaxDepth caps how deeply a document may nest objects and lists.
const manifestMaxDepth = 1000

// DecodeManifests reads multi-document YAML or JSON (one JSON object, a JSON
// array of objects, or a stream of JSON values) and returns every object in
// it, in order; `kind: List` (apiVersion v1) documents are expanded into their
// items. source names the input in errors ("-" for stdin).
//
// Decoding is strict. The kind must be registered and written with the
// apiVersion it is served at, metadata.name must be set, keys may not repeat,
// and every field must be one the object's type has, with its exact
// (case-sensitive) name and a value of the right type. Problems are reported
// all at once, one line each, naming the file, the document, the object and
// the field path:
//
//	app.yaml doc 2: deployment web: spec.template.spec.containers[0].lifecycle: not supported
//	app.yaml doc 3: line 7: mapping values are not allowed in this context
//
// If anything is wrong nothing is returned. The error is a *Status with
// reason BadRequest when some document cannot be parsed at all and Invalid
// otherwise (RequestEntityTooLarge when every problem is an oversized
// document).
func DecodeManifests(source string, data []byte) ([]Document, error) {
	var p manifestProblems
	docs := decodeManifests(source, data, &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return docs, nil
}

// ReadManifests reads manifests from files, from directories and from stdin
// ("-", read from the stdin reader passed in), in the order given. A
// directory contributes its *.yaml, *.yml and *.json files in name order,
// skipping names that start with "."; with recursive it descends into
// subdirectories (not into symbolic links to directories), otherwise
// subdirectories are ignored. Files named explicitly are read whatever their
// extension; a file named *.json must be JSON. One file or stdin may hold
// at most 64 MiB. Problems in all files are reported together, as by
// DecodeManifests; a directory holding no manifest files is an error.
func ReadManifests(paths []string, stdin io.Reader, recursive bool) ([]Document, error) {
	var p manifestProblems
	if len(paths) == 0 {
		p.add(manifestProblem{msg: "no manifests given: name files, directories or - for stdin", kind: problemSyntax})
		return nil, p.err()
	}
	var docs []Document
	readStdin := false
	for _, path := range paths {
		if path == "-" {
			if readStdin {
				p.add(manifestProblem{msg: "stdin (-) is named more than once", kind: problemSyntax})
				continue
			}
			readStdin = true
			if stdin == nil {
				p.add(manifestProblem{msg: "stdin (-): no input available", kind: problemSyntax})
				continue
			}
			data, err := readManifestSource(stdin)
			if err != nil {
				p.add(manifestProblem{msg: "stdin: " + err.Error(), kind: problemSyntax})
				continue
			}
			docs = append(docs, decodeManifests("-", data, &p)...)
			continue
		}
		files, err := manifestFiles(path, recursive)
		if err != nil {
			p.add(manifestProblem{msg: err.Error(), kind: problemSyntax})
			continue
		}
		for _, f := range files {
			data, err := readManifestFile(f)
			if err != nil {
				p.add(manifestProblem{msg: f + ": " + err.Error(), kind: problemSyntax})
				continue
			}
			docs = append(docs, decodeManifests(f, data, &p)...)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return docs, nil
}

// manifestFiles lists the files path stands for.
func manifestFiles(path string, recursive bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, describeFSError(err))
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir) // sorted by name
		if err != nil {
			return fmt.Errorf("%s: %s", dir, describeFSError(err))
		}
		var subdirs []string
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			full := filepath.Join(dir, name)
			if e.IsDir() {
				subdirs = append(subdirs, full)
				continue
			}
			if !isManifestFileName(name) {
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 {
				// Follow links to files; ignore links to directories.
				if st, err := os.Stat(full); err != nil || !st.Mode().IsRegular() {
					if err != nil {
						return fmt.Errorf("%s: %s", full, describeFSError(err))
					}
					continue
				}
			} else if !e.Type().IsRegular() {
				continue
			}
			files = append(files, full)
		}
		if recursive {
			for _, d := range subdirs {
				if err := walk(d); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(path); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		where := "in it"
		if recursive {
			where = "under it"
		}
		return nil, fmt.Errorf("%s: directory has no .yaml, .yml or .json files %s", path, where)
	}
	return files, nil
}

func isManifestFileName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func describeFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

func readManifestFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	defer f.Close()
	return readManifestSource(f)
}

func readManifestSource(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, manifestMaxSourceBytes+1))
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	if len(data) > manifestMaxSourceBytes {
		return nil, fmt.Errorf("more than %d MiB of manifests; split them into several files", manifestMaxSourceBytes>>20)
	}
	return data, nil
}

// ---- problems ----

type problemKind int

const (
	problemInvalid  problemKind = iota // a well-formed document with a bad object
	problemSyntax                      // unparseable input, or no input at all
	problemTooLarge                    // a document over the size limit
)

type manifestProblem struct {
	msg  string
	kind problemKind
}

// manifestProblems collects every problem found in one call.
type manifestProblems struct {
	list []manifestProblem
}

func (p *manifestProblems) add(pr manifestProblem) {
	// One line per problem, whatever the input held.
	pr.msg = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(pr.msg)
	p.list = append(p.list, pr)
}

// displayName shows a name or key from the input as it is if it is plain,
// and quoted otherwise.
func displayName(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\\' || r == '[' || r == ']' || r == 0x7f || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func (p *manifestProblems) hasSyntaxProblem() bool {
	for _, pr := range p.list {
		if pr.kind == problemSyntax {
			return true
		}
	}
	return false
}

func (p *manifestProblems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	reason := ReasonTooLarge
	for _, pr := range p.list {
		switch pr.kind {
		case problemSyntax:
			reason = ReasonBadRequest
		case problemInvalid:
			if reason == ReasonTooLarge {
				reason = ReasonInvalid
			}
		}
	}
	lines := make([]string, 0, min(len(p.list), manifestMaxProblems)+1)
	for i, pr := range p.list {
		if i == manifestMaxProblems {
			lines = append(lines, fmt.Sprintf("... and %d more problems", len(p.list)-manifestMaxProblems))
			break
		}
		lines = append(lines, pr.msg)
	}
	return NewError(reason, "%s", strings.Join(lines, "\n"))
}

// ---- documents ----

// manifestDoc is the context of one document, for messages.
type manifestDoc struct {
	source string // as shown in messages
	index  int
}

func (d manifestDoc) prefix() string {
	if d.source == "" {
		return fmt.Sprintf("doc %d: ", d.index)
	}
	return fmt.Sprintf("%s doc %d: ", d.source, d.index)
}

func manifestSourceName(source string) string {
	if source == "-" {
		return "stdin"
	}
	return source
}

var utf8BOM = []byte("\xef\xbb\xbf")

func decodeManifests(source string, data []byte, p *manifestProblems) []Document {
	data = bytes.TrimPrefix(data, utf8BOM)
	name := manifestSourceName(source)
	if strings.EqualFold(filepath.Ext(source), ".json") {
		// A .json file is JSON: no YAML leniency (trailing commas, comments).
		docs, _ := decodeJSONStream(source, name, data, p)
		return docs
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var jp manifestProblems
		docs, ok := decodeJSONStream(source, name, data, &jp)
		if ok {
			p.list = append(p.list, jp.list...)
			return docs
		}
		// Not a JSON stream. YAML is a superset of JSON, and YAML documents
		// may be written in flow style, so parse it as YAML; keep the JSON
		// complaint if that fails too and nothing suggests YAML was meant.
		var yp manifestProblems
		docs = decodeYAMLStream(source, name, data, &yp)
		if !yp.hasSyntaxProblem() || yamlSeparator.Match(data) {
			p.list = append(p.list, yp.list...)
			return docs
		}
		p.list = append(p.list, jp.list...)
		return nil
	}
	return decodeYAMLStream(source, name, data, p)
}

var yamlSeparator = regexp.MustCompile(`(?m)^---(?:[ \t]|$)`)

// decodeJSONStream decodes a stream of JSON values. It returns false (and
// the problems found) if the data is not JSON at all.
func decodeJSONStream(source, name string, data []byte, p *manifestProblems) ([]Document, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []Document
	index := 0
	for {
		start := dec.InputOffset()
		v, err := parseJSONValue(dec, 0)
		if err == io.EOF {
			return docs, true
		}
		// Where the value began, for size and line numbers.
		for start < int64(len(data)) && isJSONSpace(data[start]) {
			start++
		}
		if err != nil {
			d := manifestDoc{name, index + 1}
			var se *json.SyntaxError
			var dk *jsonDuplicateKey
			var deep *jsonTooDeep
			switch {
			case errors.As(err, &dk):
				off := dk.offset // just after the previous token
				for off < int64(len(data)) && (isJSONSpace(data[off]) || data[off] == ',') {
					off++
				}
				p.add(manifestProblem{d.prefix() + fmt.Sprintf("line %d: duplicate key %q", lineAt(data, off), dk.key), problemSyntax})
				return nil, true
			case errors.As(err, &deep):
				p.add(manifestProblem{d.prefix() + fmt.Sprintf("line %d: nested more than %d levels deep", lineAt(data, dec.InputOffset()), manifestMaxDepth), problemSyntax})
				return nil, true
			case errors.As(err, &se):
				p.add(manifestProblem{d.prefix() + fmt.Sprintf("line %d: %s", lineAt(data, se.Offset), strings.TrimPrefix(se.Error(), "json: ")), problemSyntax})
			case errors.Is(err, io.ErrUnexpectedEOF):
				p.add(manifestProblem{d.prefix() + fmt.Sprintf("line %d: unexpected end of JSON input", lineAt(data, int64(len(data)))), problemSyntax})
			default:
				p.add(manifestProblem{d.prefix() + err.Error(), problemSyntax})
			}
			return nil, false
		}
		if v == nil {
			continue // null: an empty document
		}
		index++
		d := manifestDoc{name, index}
		if size := dec.InputOffset() - start; size > MaxBodyBytes {
			p.add(tooLargeDocument(d, size))
			continue
		}
		docs = append(docs, decodeDocumentValue(source, d, v, p)...)
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func lineAt(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

func tooLargeDocument(d manifestDoc, size int64) manifestProblem {
	return manifestProblem{d.prefix() + fmt.Sprintf("document is %d bytes, more than the limit of %d bytes (%d MiB); split it or keep large data elsewhere", size, MaxBodyBytes, MaxBodyBytes>>20), problemTooLarge}
}

type jsonDuplicateKey struct {
	key    string
	offset int64
}

func (e *jsonDuplicateKey) Error() string { return fmt.Sprintf("duplicate key %q", e.key) }

type jsonTooDeep struct{}

func (*jsonTooDeep) Error() string { return "nested too deeply" }

// parseJSONValue reads one JSON value into generic form (map[string]any,
// []any, string, json.Number, bool, nil), rejecting repeated keys.
func parseJSONValue(dec *json.Decoder, depth int) (any, error) {
	if depth > manifestMaxDepth {
		return nil, &jsonTooDeep{}
	}
	tok, err := dec.Token()
	if err != nil {
		if depth > 0 && err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				off := dec.InputOffset()
				kt, err := dec.Token()
				if err != nil {
					return nil, eofToUnexpected(err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &json.SyntaxError{} // cannot happen: Token validates
				}
				if _, dup := m[key]; dup {
					return nil, &jsonDuplicateKey{key: key, offset: off}
				}
				v, err := parseJSONValue(dec, depth+1)
				if err != nil {
					return nil, eofToUnexpected(err)
				}
				m[key] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, eofToUnexpected(err)
			}
			return m, nil
		case '[':
			l := []any{}
			for dec.More() {
				v, err := parseJSONValue(dec, depth+1)
				if err != nil {
					return nil, eofToUnexpected(err)
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, eofToUnexpected(err)
			}
			return l, nil
		}
		return nil, fmt.Errorf("unexpected %q", rune(t))
	default:
		return t, nil
	}
}

func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// yamlChunk is one document's text and the file line it starts on.
type yamlChunk struct {
	text []byte
	line int
}

// splitYAML cuts a YAML stream into documents at "---" lines (kept, since
// they may carry content such as "--- |") and after "..." lines. Directive
// lines ("%YAML 1.2") go with the document that follows them.
func splitYAML(data []byte) []yamlChunk {
	var chunks []yamlChunk
	cur := yamlChunk{line: 1}
	var directives []byte
	directivesLine := 0
	contentSeen := false // cur holds more than blank and comment lines
	flush := func() {
		if len(cur.text) > 0 {
			chunks = append(chunks, cur)
		}
	}
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i+1], data[i+1:]
		} else {
			l, data = data, nil
		}
		switch {
		case isYAMLMarker(l, "---"):
			flush()
			cur = yamlChunk{line: line}
			if directives != nil {
				cur = yamlChunk{text: directives, line: directivesLine}
				directives = nil
			}
			cur.text = append(cur.text, l...)
			contentSeen = true // the marker itself may carry content
			continue
		case isYAMLMarker(l, "..."):
			cur.text = append(cur.text, l...)
			flush()
			cur = yamlChunk{line: line + 1}
			contentSeen = false
			continue
		case len(l) > 0 && l[0] == '%' && !contentSeen:
			if directives == nil {
				directivesLine = line
			}
			directives = append(directives, l...)
			continue
		}
		if !contentSeen && !isBlankOrComment(l) {
			contentSeen = true
		}
		if directives != nil {
			// Directives not followed by "---": leave them for the parser
			// to complain about.
			if len(cur.text) == 0 {
				cur.line = directivesLine
			}
			cur.text = append(cur.text, directives...)
			directives = nil
		}
		if len(cur.text) == 0 {
			cur.line = line
		}
		cur.text = append(cur.text, l...)
	}
	if directives != nil {
		cur.text = append(cur.text, directives...)
	}
	flush()
	return chunks
}

func isYAMLMarker(l []byte, marker string) bool {
	if !bytes.HasPrefix(l, []byte(marker)) {
		return false
	}
	rest := l[len(marker):]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

func isBlankOrComment(l []byte) bool {
	t := bytes.TrimLeft(l, " \t\r\n")
	return len(t) == 0 || t[0] == '#'
}

var (
	yamlLineRE    = regexp.MustCompile(`\bline (\d+)\b`)
	yamlDupKeyRE  = regexp.MustCompile(`^line (\d+): key (".*") already set in map$`)
	yamlUnmarshal = "yaml: unmarshal errors:"
)

func decodeYAMLStream(source, name string, data []byte, p *manifestProblems) []Document {
	var docs []Document
	index := 0
	for _, c := range splitYAML(data) {
		if len(c.text) > MaxBodyBytes {
			index++
			p.add(tooLargeDocument(manifestDoc{name, index}, int64(len(c.text))))
			continue
		}
		if isBlankOrCommentText(c.text) {
			continue
		}
		j, err := yaml.YAMLToJSONStrict(c.text)
		if err != nil {
			index++
			d := manifestDoc{name, index}
			for _, msg := range yamlErrorMessages(err, c.line) {
				p.add(manifestProblem{d.prefix() + msg, problemSyntax})
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		v, err := parseJSONValue(dec, 0)
		if err != nil {
			index++
			d := manifestDoc{name, index}
			msg := err.Error()
			var deep *jsonTooDeep
			if errors.As(err, &deep) {
				msg = fmt.Sprintf("nested more than %d levels deep", manifestMaxDepth)
			}
			p.add(manifestProblem{d.prefix() + fmt.Sprintf("line %d: %s", c.line, msg), problemSyntax})
			continue
		}
		if v == nil {
			continue // empty document
		}
		index++
		docs = append(docs, decodeDocumentValue(source, manifestDoc{name, index}, v, p)...)
	}
	return docs
}

func isBlankOrCommentText(text []byte) bool {
	for len(text) > 0 {
		var l []byte
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i+1], text[i+1:]
		} else {
			l, text = text, nil
		}
		if !isBlankOrComment(l) {
			return false
		}
	}
	return true
}

// yamlErrorMessages turns a YAML parser error into messages with line
// numbers counted from the start of the file.
func yamlErrorMessages(err error, firstLine int) []string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	shift := func(s string) string {
		return yamlLineRE.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.Atoi(m[len("line "):])
			return "line " + strconv.Itoa(n+firstLine-1)
		})
	}
	if rest, ok := strings.CutPrefix(msg, yamlUnmarshal); ok {
		var out []string
		for _, l := range strings.Split(rest, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if m := yamlDupKeyRE.FindStringSubmatch(l); m != nil {
				l = "line " + m[1] + ": duplicate key " + m[2]
			}
			out = append(out, shift(l))
		}
		if len(out) > 0 {
			return out
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if !yamlLineRE.MatchString(msg) {
		// The parser leaves out the line when it is the document's first.
		return []string{fmt.Sprintf("line %d: %s", firstLine, msg)}
	}
	return []string{shift(msg)}
}

// decodeDocumentValue decodes the objects in one document: an object, a
// List, or an array of objects.
func decodeDocumentValue(source string, d manifestDoc, v any, p *manifestProblems) []Document {
	var docs []Document
	add := func(where string, item any) {
		if obj := decodeManifestObject(d, where, item, p); obj != nil {
			docs = append(docs, Document{Source: source, Index: d.index, Object: obj})
		}
	}
	switch t := v.(type) {
	case []any:
		for i, item := range t {
			add(fmt.Sprintf("[%d]: ", i), item)
		}
	case map[string]any:
		if t["kind"] != "List" {
			add("", t)
			break
		}
		bad := false
		if av, ok := t["apiVersion"]; !ok {
			p.add(manifestProblem{d.prefix() + `List: apiVersion is required (use "v1")`, problemInvalid})
			bad = true
		} else if av != "v1" {
			p.add(manifestProblem{d.prefix() + fmt.Sprintf(`List: apiVersion %s is not served; use "v1"`, describeAPIVersion(av)), problemInvalid})
			bad = true
		}
		for _, k := range sortedKeys(t) {
			switch k {
			case "apiVersion", "kind":
			case "metadata":
				// List metadata (resourceVersion, continue, ...) describes a
				// read, and means nothing to a write.
				md, ok := t[k].(map[string]any)
				if t[k] != nil && !ok {
					p.add(manifestProblem{d.prefix() + "List: metadata: " + expectedGot("an object", t[k]), problemInvalid})
					bad = true
				}
				for _, mk := range sortedKeys(md) {
					switch mk {
					case "resourceVersion", "selfLink", "continue", "remainingItemCount":
					default:
						p.add(manifestProblem{d.prefix() + "List: metadata." + displayName(mk) + ": not supported", problemInvalid})
						bad = true
					}
				}
			case "items":
				if _, ok := t[k].([]any); !ok && t[k] != nil {
					p.add(manifestProblem{d.prefix() + "List: items: " + expectedGot("a list", t[k]), problemInvalid})
					bad = true
				}
			default:
				p.add(manifestProblem{d.prefix() + "List: " + displayName(k) + ": not supported", problemInvalid})
				bad = true
			}
		}
		if bad {
			break
		}
		items, _ := t["items"].([]any)
		for i, item := range items {
			if m, ok := item.(map[string]any); ok && m["kind"] == "List" {
				p.add(manifestProblem{d.prefix() + fmt.Sprintf("items[%d]: a List inside a List is not supported", i), problemInvalid})
				continue
			}
			add(fmt.Sprintf("items[%d]: ", i), item)
		}
	default:
		p.add(manifestProblem{d.prefix() + expectedGot("an object with apiVersion and kind", v), problemInvalid})
	}
	return docs
}

// decodeManifestObject checks and decodes one object. where ("items[2]: ")
// locates it inside its document. It returns nil after reporting problems.
func decodeManifestObject(d manifestDoc, where string, v any, p *manifestProblems) Object {
	prefix := d.prefix() + where
	m, ok := v.(map[string]any)
	if !ok {
		p.add(manifestProblem{prefix + expectedGot("an object with apiVersion and kind", v), problemInvalid})
		return nil
	}
	name := ""
	if md, ok := m["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	kindV, hasKind := m["kind"]
	kind, kindIsString := kindV.(string)
	switch {
	case !hasKind || kindV == nil || kind == "":
		what := "kind is required"
		if name != "" {
			what = fmt.Sprintf("object %q: kind is required", name)
		}
		p.add(manifestProblem{prefix + what + " (for example kind: Deployment)", problemInvalid})
		return nil
	case !kindIsString:
		p.add(manifestProblem{prefix + "kind: " + expectedGot("a string", kindV), problemInvalid})
		return nil
	}
	res, ok := ResourceForKind(kind)
	if !ok || res.System {
		p.add(manifestProblem{prefix + unsupportedKindMessage(kind), problemInvalid})
		return nil
	}
	label := lowerKind(kind)
	if name != "" {
		label += " " + displayName(name)
	}
	prefix += label + ": "
	want := res.APIVersion()
	switch av, ok := m["apiVersion"]; {
	case !ok || av == nil || av == "":
		p.add(manifestProblem{prefix + fmt.Sprintf("apiVersion is required (use %q)", want), problemInvalid})
		return nil
	case av != want:
		p.add(manifestProblem{prefix + fmt.Sprintf("apiVersion %s is not served; use %q", describeAPIVersion(av), want), problemInvalid})
		return nil
	}

	obj := res.New()
	before := len(p.list)
	w := manifestWalker{report: func(path, msg string) {
		p.add(manifestProblem{prefix + path + ": " + msg, problemInvalid})
	}}
	w.walk("", reflect.TypeOf(obj).Elem(), m)

	// A metadata or name of the wrong type was reported by the walk.
	md, mdIsMap := m["metadata"].(map[string]any)
	if mdIsMap || m["metadata"] == nil {
		nameV := md["name"]
		_, hasGenerate := md["generateName"] // reported by the walk
		if (nameV == nil || nameV == "") && !hasGenerate {
			p.add(manifestProblem{prefix + "metadata.name is required", problemInvalid})
		}
		if ns, _ := md["namespace"].(string); ns != "" && !res.Namespaced {
			p.add(manifestProblem{prefix + fmt.Sprintf("metadata.namespace: not allowed: %s is not namespaced", kind), problemInvalid})
		}
	}
	if len(p.list) > before {
		return nil
	}

	data, err := json.Marshal(m)
	if err != nil {
		p.add(manifestProblem{prefix + err.Error(), problemInvalid})
		return nil
	}
	if len(data) > MaxBodyBytes {
		p.add(manifestProblem{prefix + fmt.Sprintf("object is %d bytes as JSON, more than the limit of %d bytes (%d MiB); keep large data elsewhere", len(data), MaxBodyBytes, MaxBodyBytes>>20), problemTooLarge})
		return nil
	}
	if err := json.Unmarshal(data, obj); err != nil {
		// The walk should have caught everything; say where if it did not.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			p.add(manifestProblem{prefix + te.Field + ": expected " + describeGoType(te.Type) + ", got " + te.Value, problemInvalid})
		} else {
			p.add(manifestProblem{prefix + strings.TrimPrefix(err.Error(), "json: "), problemInvalid})
		}
		return nil
	}
	*obj.GetTypeMeta() = TypeMeta{APIVersion: want, Kind: kind}
	return obj
}

func unsupportedKindMessage(kind string) string {
	var supported []string
	var match string
	for _, k := range Kinds() {
		if r, _ := ResourceForKind(k); r.System {
			continue
		}
		supported = append(supported, k)
		if strings.EqualFold(k, kind) {
			match = k
		}
	}
	switch {
	case match != "":
		return fmt.Sprintf("kind %q is not supported; did you mean %q? (kinds are case-sensitive)", kind, match)
	case strings.HasSuffix(kind, "List") && kind != "List":
		if _, ok := ResourceForKind(strings.TrimSuffix(kind, "List")); ok {
			return fmt.Sprintf("kind %q is not supported; use kind \"List\" with apiVersion \"v1\"", kind)
		}
	}
	return fmt.Sprintf("kind %q is not supported (supported kinds: %s)", kind, strings.Join(supported, ", "))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describeJSONValue shows a generic JSON value briefly: string "three",
// number 3, boolean true, null, an object, a list.
func describeJSONValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		const max = 60
		if len(t) > max {
			return fmt.Sprintf("string %q...", t[:max])
		}
		return fmt.Sprintf("string %q", t)
	case json.Number:
		return "number " + string(t)
	case bool:
		return fmt.Sprintf("boolean %t", t)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

func describeAPIVersion(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return describeJSONValue(v)
}

func expectedGot(want string, v any) string {
	return "expected " + want + ", got " + describeJSONValue(v)
}

// ---- the walk ----

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// manifestWalker checks a generic JSON value against a Go type the way
// encoding/json would decode it, but strictly: every key must name a field
// exactly, and every value must fit. It reports each problem with its path.
type manifestWalker struct {
	report func(path, msg string)
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (w *manifestWalker) walk(path string, t reflect.Type, v any) {
	if t.Kind() == reflect.Pointer {
		if v == nil {
			return
		}
		w.walk(path, t.Elem(), v)
		return
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) || t.Implements(jsonUnmarshalerType) {
		// A leaf with its own syntax (Quantity, IntOrString, Time): let it
		// judge the value.
		data, err := json.Marshal(v)
		if err == nil {
			u := reflect.New(t).Interface().(json.Unmarshaler)
			err = u.UnmarshalJSON(data)
		}
		if err != nil {
			w.report(path, strings.TrimPrefix(err.Error(), "json: "))
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || t.Implements(textUnmarshalerType) {
		if v == nil {
			return
		}
		s, ok := v.(string)
		if !ok {
			w.report(path, expectedGot("a string", v))
			return
		}
		u := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText([]byte(s)); err != nil {
			w.report(path, err.Error())
		}
		return
	}
	if v == nil {
		return // null leaves the field unset, as encoding/json does
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			w.report(path, "not supported")
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			w.report(path, expectedGot("a string", v)+quoteHint(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			w.report(path, expectedGot("true or false", v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			w.report(path, expectedGot("a number", v))
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			w.report(path, numberProblem(n, t, err))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := v.(json.Number)
		if !ok {
			w.report(path, expectedGot("a number", v))
			return
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			w.report(path, numberProblem(n, t, err))
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			w.report(path, expectedGot("a number", v))
			return
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			w.report(path, fmt.Sprintf("number %s is out of range", n))
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(jsonUnmarshalerType) && !reflect.PointerTo(t.Elem()).Implements(textUnmarshalerType) {
			s, ok := v.(string)
			if !ok {
				w.report(path, expectedGot("a base64 string", v))
				return
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				w.report(path, "not valid base64 ("+err.Error()+"); encode the value, or give it as text in stringData if the object has it")
			}
			return
		}
		l, ok := v.([]any)
		if !ok {
			w.report(path, expectedGot("a list", v))
			return
		}
		for i, item := range l {
			w.walk(fmt.Sprintf("%s[%d]", path, i), t.Elem(), item)
		}
	case reflect.Array:
		l, ok := v.([]any)
		if !ok {
			w.report(path, expectedGot("a list", v))
			return
		}
		if len(l) > t.Len() {
			w.report(path, fmt.Sprintf("at most %d items allowed, got %d", t.Len(), len(l)))
		}
		for i, item := range l {
			w.walk(fmt.Sprintf("%s[%d]", path, i), t.Elem(), item)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			w.report(path, expectedGot("an object", v))
			return
		}
		kt := t.Key()
		for _, k := range sortedKeys(m) {
			kp := path + "[" + displayName(k) + "]"
			switch {
			case reflect.PointerTo(kt).Implements(textUnmarshalerType):
				u := reflect.New(kt).Interface().(encoding.TextUnmarshaler)
				if err := u.UnmarshalText([]byte(k)); err != nil {
					w.report(kp, "bad key: "+err.Error())
					continue
				}
			case kt.Kind() == reflect.String:
			case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
				if _, err := strconv.ParseInt(k, 10, kt.Bits()); err != nil {
					w.report(kp, "key must be an integer")
					continue
				}
			case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
				if _, err := strconv.ParseUint(k, 10, kt.Bits()); err != nil {
					w.report(kp, "key must be a non-negative integer")
					continue
				}
			}
			w.walk(kp, t.Elem(), m[k])
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			w.report(path, expectedGot("an object", v))
			return
		}
		fields := cachedManifestFields(t)
		keys := sortedKeys(m)
		sort.SliceStable(keys, func(i, j int) bool {
			fi, iok := fields.byName[keys[i]]
			fj, jok := fields.byName[keys[j]]
			switch {
			case iok && jok:
				return fi.order < fj.order
			case iok != jok:
				return iok
			}
			return false
		})
		for _, k := range keys {
			f, ok := fields.byName[k]
			if !ok {
				w.report(joinField(path, displayName(k)), unknownFieldMessage(path, k, fields))
				continue
			}
			if f.quoted {
				w.walkQuoted(joinField(path, k), f.typ, m[k])
				continue
			}
			w.walk(joinField(path, k), f.typ, m[k])
		}
	default:
		w.report(path, "not supported")
	}
}

// walkQuoted checks a field tagged ",string": a scalar written as a string.
func (w *manifestWalker) walkQuoted(path string, t reflect.Type, v any) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if !ok {
		w.report(path, expectedGot("a quoted value", v))
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var inner any = s
	switch t.Kind() {
	case reflect.String:
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			w.report(path, expectedGot("a quoted string", v))
			return
		}
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			w.report(path, expectedGot("\"true\" or \"false\"", v))
			return
		}
		inner = b
	default:
		inner = json.Number(s)
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			w.report(path, expectedGot("a number in quotes", v))
			return
		}
	}
	w.walk(path, t, inner)
}

func quoteHint(v any) string {
	switch v.(type) {
	case json.Number:
		return " (put the value in quotes)"
	case bool:
		return " (YAML reads true/false, yes/no, y/n and on/off as booleans: put the value in quotes)"
	}
	return ""
}

func numberProblem(n json.Number, t reflect.Type, err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Sprintf("number %s is out of range for %s", n, describeGoType(t))
	}
	if f, ferr := strconv.ParseFloat(string(n), 64); ferr == nil && t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr && f < 0 {
		return fmt.Sprintf("expected a non-negative integer, got %s", n)
	}
	return fmt.Sprintf("expected an integer, got %s", n)
}

func describeGoType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "a 64-bit integer"
	case reflect.Int32:
		return "a 32-bit integer"
	case reflect.Int16:
		return "a 16-bit integer"
	case reflect.Int8:
		return "an 8-bit integer"
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return "a non-negative 64-bit integer"
	case reflect.Uint32:
		return "a non-negative 32-bit integer"
	case reflect.Uint16:
		return "a non-negative 16-bit integer"
	case reflect.Uint8:
		return "a non-negative 8-bit integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

func unknownFieldMessage(path, key string, fields *manifestFields) string {
	if joinField(path, key) == "metadata.generateName" {
		return "not supported; set metadata.name"
	}
	for _, n := range fields.names {
		if strings.EqualFold(n, key) {
			return fmt.Sprintf("not supported (did you mean %q? field names are case-sensitive)", n)
		}
	}
	best, bestDist := "", 3
	if len(key) >= 4 {
		for _, n := range fields.names {
			if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("not supported (did you mean %q?)", best)
	}
	return "not supported"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// manifestField is a JSON field of a struct type.
type manifestField struct {
	typ    reflect.Type
	order  int
	quoted bool
}

type manifestFields struct {
	byName map[string]*manifestField
	names  []string // in declaration order
}

var manifestFieldCache sync.Map // reflect.Type -> *manifestFields

func cachedManifestFields(t reflect.Type) *manifestFields {
	if f, ok := manifestFieldCache.Load(t); ok {
		return f.(*manifestFields)
	}
	f, _ := manifestFieldCache.LoadOrStore(t, buildManifestFields(t))
	return f.(*manifestFields)
}

// buildManifestFields lists the fields encoding/json decodes into for struct
// type t, following its rules: json tag names, promoted fields of embedded
// structs (the shallowest wins, a tagged one breaks a tie, a remaining tie
// hides the name), "-" skips.
func buildManifestFields(t reflect.Type) *manifestFields {
	type candidate struct {
		name   string
		typ    reflect.Type
		depth  int
		tagged bool
		quoted bool
		order  int
	}
	var cands []candidate
	order := 0
	var visit func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	visit = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if !sf.IsExported() && et.Kind() != reflect.Struct {
					continue
				}
				if name == "" && et.Kind() == reflect.Struct {
					visit(et, depth+1, seen)
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if name == "" {
				name = sf.Name
			}
			quoted := false
			for _, o := range strings.Split(opts, ",") {
				if o == "string" {
					switch k := derefKind(ft); k {
					case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64:
						quoted = true
					}
				}
			}
			cands = append(cands, candidate{name, ft, depth, tagged, quoted, order})
			order++
		}
	}
	visit(t, 0, map[reflect.Type]bool{})

	byName := map[string][]candidate{}
	for _, c := range cands {
		byName[c.name] = append(byName[c.name], c)
	}
	out := &manifestFields{byName: map[string]*manifestField{}}
	for _, c := range cands {
		group := byName[c.name]
		best := group[0]
		tie := false
		for _, o := range group[1:] {
			switch {
			case o.depth < best.depth || (o.depth == best.depth && o.tagged && !best.tagged):
				best, tie = o, false
			case o.depth == best.depth && o.tagged == best.tagged:
				tie = true
			}
		}
		if tie || best.order != c.order {
			continue
		}
		out.byName[c.name] = &manifestField{typ: c.typ, order: c.order, quoted: c.quoted}
		out.names = append(out.names, c.name)
	}
	return out
}

func derefKind(t reflect.Type) reflect.Kind {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind()
}
