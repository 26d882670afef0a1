package api

import (
	"fmt"
	"regexp"
)

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidateName checks an object's name as Kubernetes does: namespaces are
// DNS-1123 labels, everything else DNS-1123 subdomains.
func ValidateName(kind, name string) error {
	if name == "" {
		return NewError(ReasonInvalid, "%s: metadata.name is required", kind)
	}
	if kind == "Namespace" {
		if len(name) > 63 || !dns1123Label.MatchString(name) {
			return NewError(ReasonInvalid, "namespace %q: metadata.name must be lower-case letters, digits and '-', start and end with a letter or digit, at most 63 characters (try %q)", name, suggestName(name))
		}
		return nil
	}
	if len(name) > 253 || !dns1123Subdomain.MatchString(name) {
		return NewError(ReasonInvalid, "%s %q: metadata.name must be lower-case letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters (try %q)", lowerKind(kind), name, suggestName(name))
	}
	return nil
}

// ValidateNamespace checks a namespace name in an object or a path.
func ValidateNamespace(ns string) error {
	if len(ns) > 63 || !dns1123Label.MatchString(ns) {
		return NewError(ReasonInvalid, "metadata.namespace %q is not a valid namespace name (lower-case letters, digits and '-', at most 63 characters)", ns)
	}
	return nil
}

func lowerKind(kind string) string {
	b := []byte(kind)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func suggestName(name string) string {
	out := make([]byte, 0, len(name))
	for _, c := range []byte(lowerKind(name)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.':
			out = append(out, c)
		case c == '_' || c == ' ':
			out = append(out, '-')
		}
	}
	for len(out) > 0 && (out[0] == '-' || out[0] == '.') {
		out = out[1:]
	}
	for len(out) > 0 && (out[len(out)-1] == '-' || out[len(out)-1] == '.') {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return fmt.Sprintf("my-%s", "object")
	}
	if len(out) > 63 {
		out = out[:63]
	}
	return string(out)
}
