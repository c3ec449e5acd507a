package contract

// KubeSpawner's name slugs, ported from KubeSpawner 7.0.0 (jupyterhub/kubespawner:
// kubespawner/slugs.py, and KubeSpawner._expand_user_properties in kubespawner/spawner.py) and
// from escapism, which its older "escape" scheme uses. The webhook needs them to name a user's
// claim exactly as KubeSpawner would, from the user and server names alone.
//
// The safe scheme (KubeSpawner 7's default), for one name and the 48-character limit
// _expand_user_properties passes:
//
//   - safe_slug(name): name itself when it contains no "--", is 1..48 bytes of [a-z0-9-], starts
//     with a letter and ends with a letter or digit; otherwise strip_and_hash(name).
//   - strip_and_hash(name) = extract(name, 37) + "---" + the first 8 hex digits of sha256(name).
//   - extract(name, n): lowercase as Python's str.lower does, turn every run of characters other
//     than [a-z0-9] into one "-", strip leading "-", cut to n bytes, strip trailing "-"; if the rest
//     does not start with a letter, prefix "x-" and cut what follows it to n-2 bytes (without
//     stripping a "-" the cut may leave at the end); if nothing is left, "x".
//   - multi_slug(names) = extract(name, 17) for each name, joined by "--", + "---" + the first 8
//     hex digits of sha256(name1 + 0xFF + name2 ...). 17 is 48 minus 9 for "---" and the hash,
//     shared between the names ((48-9)/2 = 19 each), minus 2 for the "--".
//
// _expand_user_properties then sets {username} = safe_slug(user), {servername} = safe_slug(server)
// or "" for the default server, and {user_server} = {username}--{servername} (just {username}
// without a server) unless len({username}) + len({servername}) + 2 > 48, in which case it is
// multi_slug([user, server]), even for the default server (server "" gives the part "x").
//
// The escape scheme (KubeSpawner < 7): {username} and {servername} are escapism.escape with safe
// characters [a-z0-9] and escape character "-", lowercased: every other character becomes "-" and
// the hex value of each byte of its UTF-8 encoding, without zero padding ("\t" is "-9", "A" is
// "-41"). {user_server} is {username}--{servername}, or {username} without a server. Names are
// neither cut nor hashed, so they can exceed Kubernetes' limits, and may start with "-".

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SlugScheme is how KubeSpawner turns user and server names into name parts: "safe" (KubeSpawner 7's
// default) or "escape" (the older scheme).
type SlugScheme string

// The slug schemes of KubeSpawner's slug_scheme setting.
const (
	SlugSafe   SlugScheme = "safe"
	SlugEscape SlugScheme = "escape"
)

// Placeholders in name templates (PlaceholderUserServer is in config.go), as KubeSpawner spells them.
const (
	PlaceholderUsername   = "{username}"
	PlaceholderServername = "{servername}"
)

var (
	// ErrInvalidSlugScheme: a slug scheme other than "safe" or "escape".
	ErrInvalidSlugScheme = errors.New("invalid slug scheme")
	// ErrInvalidNameTemplate: a name template that is not a Python format string, or that names a
	// field this package cannot fill.
	ErrInvalidNameTemplate = errors.New("invalid name template")
)

const (
	// slugMaxLength is _expand_user_properties' limit for {username}, {servername} and {user_server}.
	slugMaxLength = 48
	// slugHashLen is the number of hex digits of sha256 in a hashed slug.
	slugHashLen = 8
	// objectNameMaxLength is the longest name KubeSpawner's is_valid_object_name accepts.
	objectNameMaxLength = 63
)

// ParseSlugScheme accepts exactly the values of KubeSpawner's slug_scheme: "safe" and "escape".
func ParseSlugScheme(s string) (SlugScheme, error) {
	switch SlugScheme(s) {
	case SlugSafe, SlugEscape:
		return SlugScheme(s), nil
	}
	return "", fmt.Errorf("%w: %q: slug scheme must be %q or %q", ErrInvalidSlugScheme, s, SlugSafe, SlugEscape)
}

// UserServerNames returns {username}, {servername}, {user_server} as KubeSpawner computes them from
// the raw JupyterHub user and server names (server "" is the default server). scheme must be
// SlugSafe or SlugEscape (use ParseSlugScheme); any other value panics, as it is a bug of the caller.
func UserServerNames(scheme SlugScheme, user, server string) (username, servername, userServer string) {
	return kubeSpawnerNames(user, server).inScheme(scheme)
}

// ExpandNameTemplate replaces every placeholder in tmpl the way KubeSpawner's
// _expand_user_properties does: tmpl is a Python format string ("{{" and "}}" are literal braces)
// whose fields are filled by name, and unless tmpl itself ends with "-", every "-" at the end of
// the result is removed (so the old "claim-{username}--{servername}" gives "claim-dora" for the
// default server).
//
// The fields: {username}, {servername}, {user_server} (in the given scheme); {safe_username},
// {safe_servername}, {safe_user_server} (always the safe scheme); {escaped_username},
// {escaped_servername}, {escaped_user_server} (always the escape scheme; the last is always joined
// with "--", even for the default server); {unescaped_username}, {unescaped_servername} (the raw
// names).
//
// The other fields KubeSpawner fills ({userid}, {hubnamespace}, {pod_name}, {pvc_name},
// {namespace}) depend on the hub's database and configuration, which the webhook does not have:
// they are an error, as are fields KubeSpawner does not know (its KeyError), positional fields
// ("{}", "{0}"), conversions and format specifications ("{username!r}", "{username:.10}"), attribute
// and index lookups ("{username[0]}") and unbalanced braces. Every error wraps
// ErrInvalidNameTemplate, or ErrInvalidSlugScheme for a bad scheme.
func ExpandNameTemplate(tmpl string, scheme SlugScheme, user, server string) (string, error) {
	if _, err := ParseSlugScheme(string(scheme)); err != nil {
		return "", err
	}
	n := kubeSpawnerNames(user, server)
	username, servername, userServer := n.inScheme(scheme)
	fields := map[string]string{
		"username":             username,
		"servername":           servername,
		"user_server":          userServer,
		"unescaped_username":   user,
		"unescaped_servername": server,
		"safe_username":        n.safeUsername,
		"safe_servername":      n.safeServername,
		"safe_user_server":     n.safeUserServer,
		"escaped_username":     n.escapedUsername,
		"escaped_servername":   n.escapedServername,
		"escaped_user_server":  n.escapedUsername + "--" + n.escapedServername,
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		switch c := tmpl[i]; c {
		case '{':
			if strings.HasPrefix(tmpl[i:], "{{") {
				b.WriteByte('{')
				i += 2
				continue
			}
			end := strings.IndexByte(tmpl[i+1:], '}')
			if end < 0 {
				return "", fmt.Errorf("%w: %q: a '{' is not closed by '}' (write '{{' for a literal brace)", ErrInvalidNameTemplate, tmpl)
			}
			name := tmpl[i+1 : i+1+end]
			value, err := templateField(fields, name)
			if err != nil {
				return "", fmt.Errorf("%w: %q: %s", ErrInvalidNameTemplate, tmpl, err)
			}
			b.WriteString(value)
			i += end + 2
		case '}':
			if !strings.HasPrefix(tmpl[i:], "}}") {
				return "", fmt.Errorf("%w: %q: a single '}' (write '}}' for a literal brace)", ErrInvalidNameTemplate, tmpl)
			}
			b.WriteByte('}')
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	rendered := b.String()
	if !strings.HasSuffix(tmpl, "-") {
		rendered = strings.TrimRight(rendered, "-")
	}
	return rendered, nil
}

// templateField is the value of the replacement field {name}, or why there is none.
func templateField(fields map[string]string, name string) (string, error) {
	switch {
	case name == "" || strings.Trim(name, "0123456789") == "":
		return "", fmt.Errorf("positional field {%s}: KubeSpawner fills fields by name only", name)
	case strings.ContainsAny(name, "{!:"):
		return "", fmt.Errorf("field {%s}: nested fields, conversions and format specifications are not supported", name)
	case strings.ContainsAny(name, ".["):
		return "", fmt.Errorf("field {%s}: attribute and index lookups are not supported", name)
	}
	if v, ok := fields[name]; ok {
		return v, nil
	}
	switch name {
	case "userid", "hubnamespace", "pod_name", "pvc_name", "namespace":
		return "", fmt.Errorf("field {%s} depends on the hub's database or configuration, which the webhook does not know", name)
	}
	return "", fmt.Errorf("unknown field {%s}", name)
}

// userServerNames is every name part _expand_user_properties computes, in both schemes.
type userServerNames struct {
	safeUsername, safeServername, safeUserServer string
	escapedUsername, escapedServername           string
}

// inScheme is {username}, {servername}, {user_server} in scheme.
func (n userServerNames) inScheme(scheme SlugScheme) (username, servername, userServer string) {
	switch scheme {
	case SlugSafe:
		return n.safeUsername, n.safeServername, n.safeUserServer
	case SlugEscape:
		if n.escapedServername == "" {
			return n.escapedUsername, "", n.escapedUsername
		}
		return n.escapedUsername, n.escapedServername, n.escapedUsername + "--" + n.escapedServername
	}
	panic(fmt.Sprintf("patch.UserServerNames: slug scheme %q is neither %q nor %q", scheme, SlugSafe, SlugEscape))
}

// kubeSpawnerNames computes the name parts as _expand_user_properties does.
func kubeSpawnerNames(user, server string) userServerNames {
	n := userServerNames{
		safeUsername:      safeSlug(user, slugMaxLength),
		escapedUsername:   escapeSlug(user),
		escapedServername: escapeSlug(server),
	}
	if server != "" {
		n.safeServername = safeSlug(server, slugMaxLength)
	}
	switch {
	case len(n.safeUsername)+len(n.safeServername)+2 > slugMaxLength:
		// Joined, the two would be too long: one hash over both raw names, even for the default server.
		n.safeUserServer = multiSlug([]string{user, server}, slugMaxLength)
	case server != "":
		n.safeUserServer = n.safeUsername + "--" + n.safeServername
	default:
		n.safeUserServer = n.safeUsername
	}
	return n
}

// safeSlug is slugs.py's safe_slug with its default validity check (is_valid_object_name): name if it
// is already a valid object name, of at most maxLength bytes, without "--" (which only joined and
// hashed slugs contain); else a stripped and hashed form of at most maxLength bytes. maxLength 0 is
// Python's max_length=None: no limit but the 63 of a valid name, and 32 for a hashed form.
func safeSlug(name string, maxLength int) string {
	if !strings.Contains(name, "--") && isValidObjectName(name) && (maxLength == 0 || len(name) <= maxLength) {
		return name
	}
	if maxLength == 0 {
		maxLength = 32
	}
	return stripAndHash(name, maxLength)
}

// isValidObjectName is slugs.py's is_valid_object_name: 1 to 63 bytes of [a-z0-9-], starting with a
// letter and ending with a letter or digit (both DNS-1123 and DNS-1035 label rules).
func isValidObjectName(s string) bool {
	if len(s) < 1 || len(s) > objectNameMaxLength || !isSlugLower(s[0]) || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isSlugLower(c) && !isSlugDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// stripAndHash is slugs.py's strip_and_hash: the readable part of name, "---" (which neither an
// extracted name nor a "--" join can contain), and a short hash of the whole raw name.
func stripAndHash(name string, maxLength int) string {
	keep := maxLength - (slugHashLen + 3)
	if keep < 1 { // Python raises ValueError; this package only ever passes 48
		panic(fmt.Sprintf("patch.stripAndHash: cannot make slugs shorter than %d", slugHashLen+4))
	}
	return extractSafeName(name, keep) + "---" + slugHash([]byte(name))
}

// multiSlug is slugs.py's multi_slug: every name's readable part, joined with "--", and one hash over
// all raw names, each after the first preceded by the byte 0xFF (never in UTF-8), so that the
// boundary between names matters to the hash.
func multiSlug(names []string, maxLength int) string {
	var raw []byte
	parts := make([]string, len(names))
	// The budget of one part, less its "--".
	perName := (maxLength-(slugHashLen+1))/len(names) - 2
	if perName < 2 { // Python raises ValueError; this package only ever passes two names and 48
		panic(fmt.Sprintf("patch.multiSlug: %d bytes are too few for %d names", maxLength, len(names)))
	}
	for i, name := range names {
		if i > 0 {
			raw = append(raw, 0xFF)
		}
		raw = append(raw, name...)
		parts[i] = extractSafeName(name, perName)
	}
	return strings.Join(parts, "--") + "---" + slugHash(raw)
}

// slugHash is the first slugHashLen hex digits of the SHA-256 of raw.
func slugHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:slugHashLen]
}

// extractSafeName is slugs.py's _extract_safe_name: name lowercased (as Python's str.lower), every run
// of other characters than [a-z0-9] one "-", no "-" at either end, at most maxLength bytes, starting
// with a letter ("x-" is put in front of anything else) and never empty ("x").
//
// One quirk is kept: after "x-" is put in front, the rest is cut to maxLength-2 bytes but a "-" left
// at the end by that cut is not stripped, so the result can end with "-" (and strip_and_hash's then
// has "----" before the hash).
func extractSafeName(name string, maxLength int) string {
	var b strings.Builder
	sep := func() { // one "-" for a whole run
		if !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		switch {
		case size == 1 && (isSlugLower(byte(r)) || isSlugDigit(byte(r))):
			b.WriteRune(r)
		case 'A' <= r && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		case r == '\u212A': // KELVIN SIGN: Python lowercases it to ASCII "k"
			b.WriteByte('k')
		case r == '\u0130': // LATIN CAPITAL LETTER I WITH DOT ABOVE: Python lowercases it to "i" + U+0307
			b.WriteByte('i')
			sep()
		default: // anything else, including a byte that is not UTF-8, lowercases to something not [a-z0-9]
			sep()
		}
	}
	s := strings.TrimLeft(b.String(), "-")
	if len(s) > maxLength {
		s = s[:maxLength]
	}
	s = strings.TrimRight(s, "-")
	if s != "" && !isSlugLower(s[0]) {
		if len(s) > maxLength-2 {
			s = s[:maxLength-2]
		}
		s = "x-" + s
	}
	if s == "" {
		s = "x"
	}
	return s
}

// escapeSlug is slugs.py's escape_slug: escapism.escape(name, safe=[a-z0-9], escape_char="-"),
// lowercased. Each character outside [a-z0-9] becomes "-" and the hex value of each byte of its UTF-8
// encoding, without zero padding; a byte that is not UTF-8 (which Python's str cannot hold) is
// escaped alone, the same way.
func escapeSlug(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); {
		_, size := utf8.DecodeRuneInString(name[i:])
		if c := name[i]; size == 1 && (isSlugLower(c) || isSlugDigit(c)) {
			b.WriteByte(c)
		} else {
			for j := i; j < i+size; j++ {
				b.WriteByte('-')
				b.WriteString(strconv.FormatUint(uint64(name[j]), 16))
			}
		}
		i += size
	}
	return b.String()
}

func isSlugLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isSlugDigit(c byte) bool { return '0' <= c && c <= '9' }
