package cniconf

import (
	"encoding/json"
	"fmt"
)

// span is the half-open byte range [start, end) of one JSON value.
type span struct{ start, end int }

// member is one key of a JSON object with the span of its value.
type member struct {
	key   string
	value span
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at i. The
// document was checked with json.Valid first, so this only has to find
// boundaries: strings (with escapes) and bracket depth.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("value expected at offset %d", i)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated container at offset %d", i)
	default:
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		return j, nil
	}
}

func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// objectMembers lists the members of the object at s, in document order.
func objectMembers(b []byte, s span) ([]member, error) {
	if b[s.start] != '{' {
		return nil, fmt.Errorf("object expected at offset %d", s.start)
	}
	var out []member
	i := skipSpace(b, s.start+1)
	for i < s.end && b[i] != '}' {
		kend, err := stringEnd(b, i)
		if err != nil {
			return nil, err
		}
		var key string
		if err := json.Unmarshal(b[i:kend], &key); err != nil {
			return nil, fmt.Errorf("key at offset %d: %w", i, err)
		}
		i = skipSpace(b, kend)
		i = skipSpace(b, i+1) // the colon
		vend, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, member{key: key, value: span{i, vend}})
		i = skipSpace(b, vend)
		if i < s.end && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out, nil
}

// arrayElements lists the spans of the elements of the array at s.
func arrayElements(b []byte, s span) ([]span, error) {
	if b[s.start] != '[' {
		return nil, fmt.Errorf("array expected at offset %d", s.start)
	}
	var out []span
	i := skipSpace(b, s.start+1)
	for i < s.end && b[i] != ']' {
		end, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, span{i, end})
		i = skipSpace(b, end)
		if i < s.end && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return out, nil
}

// lookup returns the value of the last member named key (the one
// encoding/json, and so libcni, would use) and whether there is one.
func lookup(members []member, key string) (span, bool) {
	var found span
	ok := false
	for _, m := range members {
		if m.key == key {
			found, ok = m.value, true
		}
	}
	return found, ok
}

// stringValue decodes the member key of the object at s if it is a string.
func stringValue(b []byte, s span, key string) (string, bool) {
	members, err := objectMembers(b, s)
	if err != nil {
		return "", false
	}
	v, ok := lookup(members, key)
	if !ok {
		return "", false
	}
	var str string
	if json.Unmarshal(b[v.start:v.end], &str) != nil {
		return "", false
	}
	return str, true
}
