package contract

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// sharedSlugFixture is the shared fixture kubespawner-slugs.tsv, relative to this package, where the
// workspace has it; kubespawnerSlugsTSV is its copy (the repository's tests use copies of the shared
// fixtures, so that they run anywhere).
var sharedSlugFixture = filepath.Join("..", "..", "shared", "fixtures", "kubespawner-slugs.tsv")

// slugFixtureRow is one row of kubespawner-slugs.tsv.
type slugFixtureRow struct {
	line                             int
	scheme                           SlugScheme
	user, server                     string
	username, servername, userServer string // the escape rows give only username
}

// slugFixtureRows parses kubespawnerSlugsTSV: comment lines start with "#"; a safe row is raw
// username, raw servername, {username}, {servername}, {user_server}; an escape row is "escape", raw
// username, {username}.
func slugFixtureRows(t testing.TB) []slugFixtureRow {
	t.Helper()
	var rows []slugFixtureRow
	sc := bufio.NewScanner(strings.NewReader(kubespawnerSlugsTSV))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		switch {
		case len(f) == 5:
			rows = append(rows, slugFixtureRow{line: line, scheme: SlugSafe, user: f[0], server: f[1],
				username: f[2], servername: f[3], userServer: f[4]})
		case len(f) == 3 && f[0] == "escape":
			rows = append(rows, slugFixtureRow{line: line, scheme: SlugEscape, user: f[1], username: f[2]})
		default:
			t.Fatalf("kubespawner-slugs.tsv line %d: %d fields: %q", line, len(f), text)
		}
	}
	return rows
}

func TestSharedSlugFixtureCopyIsCurrent(t *testing.T) {
	shared, err := os.ReadFile(sharedSlugFixture)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no %s outside the workspace; the copy in this file is what the tests use", sharedSlugFixture)
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(shared) != kubespawnerSlugsTSV {
		t.Errorf("%s changed: copy it into kubespawnerSlugsTSV in slugs_test.go", sharedSlugFixture)
	}
}

func TestUserServerNamesMatchKubeSpawnerFixture(t *testing.T) {
	rows := slugFixtureRows(t)
	var safe, escape int
	for _, r := range rows {
		if r.scheme == SlugEscape {
			escape++
			username, _, _ := UserServerNames(SlugEscape, r.user, "")
			if username != r.username {
				t.Errorf("line %d: escape {username} of %q = %q; KubeSpawner: %q", r.line, r.user, username, r.username)
			}
			if got, err := ExpandNameTemplate(PlaceholderUsername, SlugEscape, r.user, ""); err != nil || got != r.username {
				t.Errorf("line %d: ExpandNameTemplate(%q, escape, %q) = (%q, %v); want %q", r.line, PlaceholderUsername, r.user, got, err, r.username)
			}
			continue
		}
		safe++
		username, servername, userServer := UserServerNames(SlugSafe, r.user, r.server)
		if username != r.username || servername != r.servername || userServer != r.userServer {
			t.Errorf("line %d: safe names of (%q, %q) = (%q, %q, %q); KubeSpawner: (%q, %q, %q)", r.line, r.user, r.server,
				username, servername, userServer, r.username, r.servername, r.userServer)
		}
		tmpl := "claim-" + PlaceholderUserServer
		if got, err := ExpandNameTemplate(tmpl, SlugSafe, r.user, r.server); err != nil || got != "claim-"+r.userServer {
			t.Errorf("line %d: ExpandNameTemplate(%q, safe, %q, %q) = (%q, %v); want %q", r.line, tmpl, r.user, r.server, got, err, "claim-"+r.userServer)
		}
	}
	// 10 users × 5 servers, and the 10 users again in the escape scheme: a parser that skipped rows
	// would otherwise pass.
	if safe != 50 || escape != 10 {
		t.Errorf("read %d safe and %d escape rows; the fixture has 50 and 10", safe, escape)
	}
}

// Expected values below were worked out by hand from slugs.py and _expand_user_properties (the rules
// are summed up at the top of slugs.go); only the 8-digit hashes were computed, with sha256sum over
// the raw UTF-8 bytes (for a multi_slug: user, the byte 0xFF, server).
func TestUserServerNames(t *testing.T) {
	a60 := strings.Repeat("a", 60)
	tests := []struct {
		sentence                         string
		scheme                           SlugScheme
		user, server                     string
		username, servername, userServer string
	}{
		// The safe scheme.
		{
			sentence: "a name that is already a valid object name is kept, and joined to its server's with --",
			scheme:   SlugSafe, user: "dora", server: "analysis",
			username: "dora", servername: "analysis", userServer: "dora--analysis",
		},
		{
			sentence: "capitals make a name invalid: it is lowercased and hashed",
			scheme:   SlugSafe, user: "Alice",
			username: "alice---3bc51062", userServer: "alice---3bc51062",
		},
		{
			sentence: "a dot becomes - and the name is hashed",
			scheme:   SlugSafe, user: "jane.doe",
			username: "jane-doe---d48722fc", userServer: "jane-doe---d48722fc",
		},
		{
			sentence: "the @ and the dots of an e-mail address become one - each",
			scheme:   SlugSafe, user: "me@example.org",
			username: "me-example-org---855c94f3", userServer: "me-example-org---855c94f3",
		},
		{
			// "josé": é is not [a-z0-9], so it becomes "-", which the cut strips off the end.
			sentence: "an accented letter is dropped, and the hash is of the name's UTF-8 bytes",
			scheme:   SlugSafe, user: "José",
			username: "jos---24c2ab65", userServer: "jos---24c2ab65",
		},
		{
			sentence: "the Kelvin sign lowercases to an ASCII k, as in Python",
			scheme:   SlugSafe, user: "\u212Aelvin",
			username: "kelvin---4a274a98", userServer: "kelvin---4a274a98",
		},
		{
			// Python's "İ".lower() is "i" and U+0307 COMBINING DOT ABOVE, which becomes "-".
			sentence: "a dotted capital I lowercases to i and a combining dot, which becomes -",
			scheme:   SlugSafe, user: "İpek",
			username: "i-pek---1aa3ea6d", userServer: "i-pek---1aa3ea6d",
		},
		{
			sentence: "a name without any ASCII letter or digit becomes x and the hash",
			scheme:   SlugSafe, user: "日本",
			username: "x---cf2abf0c", userServer: "x---cf2abf0c",
		},
		{
			sentence: "a leading digit gets x- in front",
			scheme:   SlugSafe, user: "42",
			username: "x-42---73475cb4", userServer: "x-42---73475cb4",
		},
		{
			sentence: "a leading - is stripped",
			scheme:   SlugSafe, user: "-dora",
			username: "dora---87c51296", userServer: "dora---87c51296",
		},
		{
			sentence: "a valid name containing -- is hashed all the same, so that it cannot pass for a join",
			scheme:   SlugSafe, user: "dora--work",
			username: "dora-work---6dd6ea8c", userServer: "dora-work---6dd6ea8c",
		},
		{
			// 60 > 48: cut to 48-11 = 37 and hashed, 48 long; 48+0+2 > 48 even without a server, so
			// user_server is multi_slug([user, ""]): 17 characters of each name ("" gives "x").
			sentence: "a valid 60-character name is cut and hashed, and for the default server user_server is a multi_slug",
			scheme:   SlugSafe, user: a60,
			username: strings.Repeat("a", 37) + "---11ee3912", userServer: strings.Repeat("a", 17) + "--x---dc276c9a",
		},
		{
			sentence: "a valid 48-character name is kept, but 48+2 > 48 makes user_server a multi_slug",
			scheme:   SlugSafe, user: strings.Repeat("b", 48),
			username: strings.Repeat("b", 48), userServer: strings.Repeat("b", 17) + "--x---0eb0baff",
		},
		{
			sentence: "a valid 47-character name: 47+2 > 48, a multi_slug",
			scheme:   SlugSafe, user: strings.Repeat("d", 47),
			username: strings.Repeat("d", 47), userServer: strings.Repeat("d", 17) + "--x---c75450bf",
		},
		{
			sentence: "a valid 46-character name: 46+2 is not more than 48, so user_server is the name",
			scheme:   SlugSafe, user: strings.Repeat("c", 46),
			username: strings.Repeat("c", 46), userServer: strings.Repeat("c", 46),
		},
		{
			sentence: "a 4-character user and a 42-character server join to exactly 48",
			scheme:   SlugSafe, user: "dora", server: strings.Repeat("s", 42),
			username: "dora", servername: strings.Repeat("s", 42), userServer: "dora--" + strings.Repeat("s", 42),
		},
		{
			sentence: "a 4-character user and a 43-character server would join to 49: one hash over both, 17 of each",
			scheme:   SlugSafe, user: "dora", server: strings.Repeat("s", 43),
			username: "dora", servername: strings.Repeat("s", 43), userServer: "dora--" + strings.Repeat("s", 17) + "---64e29e5a",
		},
		{
			sentence: "a server name from BinderHub's launcher (repository path and 8 random characters) is valid and joined as it is",
			scheme:   SlugSafe, user: "dora", server: "binder-examples-requirements-ab12cd34",
			username: "dora", servername: "binder-examples-requirements-ab12cd34", userServer: "dora--binder-examples-requirements-ab12cd34",
		},
		{
			// 20+37+2 = 59 > 48; 17 characters of "binder-examples-requirements-ab12cd34" are "binder-examples-r".
			sentence: "a hashed user and a launcher server name are too long to join: one multi_slug over both raw names",
			scheme:   SlugSafe, user: "Bob.Smith", server: "binder-examples-requirements-ab12cd34",
			username: "bob-smith---274c9d19", servername: "binder-examples-requirements-ab12cd34", userServer: "bob-smith--binder-examples-r---7827eda3",
		},
		{
			// The server: "x-" + the 32 characters, and the hash: 45 long; 4+45+2 > 48. In the
			// multi_slug the server's part is cut to 17, "2i2c-org-infrastr", then to 15 after "x-".
			sentence: "a launcher server name for an owner starting with a digit gets x- and a hash, and the join a multi_slug",
			scheme:   SlugSafe, user: "dora", server: "2i2c-org-infrastructure-k3j9x0qa",
			username: "dora", servername: "x-2i2c-org-infrastructure-k3j9x0qa---0a9da692", userServer: "dora--x-2i2c-org-infras---1e60c2ce",
		},
		{
			// BinderHub cuts a path longer than 32 to its first and last 15 characters joined with "-":
			// "jupyterhub-zero" + "-" + "-jupyterhub-k8s" has "--". Squashed it is 39 long, cut to 37.
			sentence: "a launcher server name that BinderHub cut next to a -, leaving --, is hashed",
			scheme:   SlugSafe, user: "dora", server: "jupyterhub-zero--jupyterhub-k8s-ab12cd34",
			username: "dora", servername: "jupyterhub-zero-jupyterhub-k8s-ab12cd---05a01532", userServer: "dora--jupyterhub-zero-j---74e055ba",
		},
		{
			// 4+33+2 = 39: the hashed server name is joined as it is, so user_server has both -- and ---.
			sentence: "a launcher server name with a dot from the repository name is hashed and still joined",
			scheme:   SlugSafe, user: "dora", server: "owner-my.repo-ab12cd34",
			username: "dora", servername: "owner-my-repo-ab12cd34---be0cdb78", userServer: "dora--owner-my-repo-ab12cd34---be0cdb78",
		},
		{
			// Squashed: "1" + 33 a + "-b" (36, under the 37 cut). It starts with a digit: "x-" + its first
			// 35 characters, which end with the "-" — slugs.py does not strip it, hence "----".
			sentence: "a leading digit whose x- cut ends on a - keeps it, so four - precede the hash, as in slugs.py",
			scheme:   SlugSafe, user: "1" + strings.Repeat("a", 33) + ".b",
			username:   "x-1" + strings.Repeat("a", 33) + "----a2d16832",
			userServer: "x-1" + strings.Repeat("a", 14) + "--x---24fcec6b",
		},
		{
			sentence: "an empty user name (JupyterHub allows none) is x and the hash of nothing",
			scheme:   SlugSafe, user: "",
			username: "x---e3b0c442", userServer: "x---e3b0c442",
		},

		// The escape scheme.
		{
			sentence: "escape: an empty server name gives an empty servername and user_server is the username",
			scheme:   SlugEscape, user: "dora",
			username: "dora", userServer: "dora",
		},
		{
			sentence: "escape: capitals, dots and @ become - and the lowercase hex of their byte",
			scheme:   SlugEscape, user: "Dora.Lee@uni",
			username: "-44ora-2e-4cee-40uni", userServer: "-44ora-2e-4cee-40uni",
		},
		{
			sentence: "escape: - itself is escaped",
			scheme:   SlugEscape, user: "a-b",
			username: "a-2db", userServer: "a-2db",
		},
		{
			sentence: "escape: a byte below 0x10 gets one hex digit, as escapism writes %X without padding",
			scheme:   SlugEscape, user: "a\tb",
			username: "a-9b", userServer: "a-9b",
		},
		{
			// J is 0x4a; é is U+00E9, in UTF-8 0xc3 0xa9.
			sentence: "escape: a capital is escaped, and every UTF-8 byte of a non-ASCII letter",
			scheme:   SlugEscape, user: "José",
			username: "-4aos-c3-a9", userServer: "-4aos-c3-a9",
		},
		{
			sentence: "escape: the Kelvin sign is escaped, not lowercased first",
			scheme:   SlugEscape, user: "\u212A",
			username: "-e2-84-aa", userServer: "-e2-84-aa",
		},
		{
			sentence: "escape: a leading digit is kept",
			scheme:   SlugEscape, user: "2i2c",
			username: "2i2c", userServer: "2i2c",
		},
		{
			sentence: "escape: a server name is joined with --, even when it starts with an escape",
			scheme:   SlugEscape, user: "dora", server: "My Analysis",
			username: "dora", servername: "-4dy-20-41nalysis", userServer: "dora---4dy-20-41nalysis",
		},
		{
			sentence: "escape: a launcher server name has every - escaped",
			scheme:   SlugEscape, user: "Bob.Smith", server: "binder-examples-requirements-ab12cd34",
			username: "-42ob-2e-53mith", servername: "binder-2dexamples-2drequirements-2dab12cd34",
			userServer: "-42ob-2e-53mith--binder-2dexamples-2drequirements-2dab12cd34",
		},
		{
			sentence: "escape: names are neither cut nor hashed, however long",
			scheme:   SlugEscape, user: a60, server: strings.Repeat("s", 60),
			username: a60, servername: strings.Repeat("s", 60), userServer: a60 + "--" + strings.Repeat("s", 60),
		},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			username, servername, userServer := UserServerNames(tc.scheme, tc.user, tc.server)
			if username != tc.username || servername != tc.servername || userServer != tc.userServer {
				t.Errorf("UserServerNames(%s, %q, %q) =\n(%q, %q, %q); want\n(%q, %q, %q)", tc.scheme, tc.user, tc.server,
					username, servername, userServer, tc.username, tc.servername, tc.userServer)
			}
		})
	}
}

// KubeSpawner's own tests of safe_slug (tests/test_slugs.py), which call it with max_length=None
// (safeSlug's 0) or a given max_length.
func TestSafeSlugMatchesKubeSpawnerTests(t *testing.T) {
	tests := []struct {
		name      string
		maxLength int
		want      string
	}{
		{"jupyter-alex", 0, "jupyter-alex"},
		{"jupyter-Alex", 0, "jupyter-alex---3a1c285c"},
		{"jupyter-üni", 0, "jupyter-ni---a5aaf5dd"},
		{"endswith-", 0, "endswith---165f1166"},
		{"user@email.com", 0, "user-email-com---0925f997"},
		{"user-_@_emailß.com", 0, "user-email-com---7e3a7efd"},
		{"has.dot", 0, "has-dot---03e27fdf"},
		{"z9", 0, "z9"},
		{"9z9", 0, "x-9z9---224de202"},
		{"-start", 0, "start---f587e2dc"},
		{"üser", 0, "ser---73506260"},
		{"username--servername", 0, "username-servername---d957f1de"},
		{"start---f587e2dc", 0, "start-f587e2dc---cc5bb9c9"},
		{strings.Repeat("x", 63), 0, strings.Repeat("x", 63)},
		{strings.Repeat("x", 64), 0, "xxxxxxxxxxxxxxxxxxxxx---7ce10097"},
		{strings.Repeat("x", 65), 0, "xxxxxxxxxxxxxxxxxxxxx---9537c5fd"},
		{"", 0, "x---e3b0c442"},
		{strings.Repeat("x", 16), 16, strings.Repeat("x", 16)},
		{strings.Repeat("x", 17), 16, "xxxxx---d04fd59f"},
		{strings.Repeat("x", 16), 12, "x---9c572959"},
	}
	for _, tc := range tests {
		if got := safeSlug(tc.name, tc.maxLength); got != tc.want {
			t.Errorf("safe_slug(%q, max_length=%d) = %q; KubeSpawner's test: %q", tc.name, tc.maxLength, got, tc.want)
		}
	}
}

func TestExpandNameTemplate(t *testing.T) {
	tests := []struct {
		sentence     string
		tmpl         string
		scheme       SlugScheme
		user, server string
		want         string
		wantErr      error
	}{
		{
			sentence: "KubeSpawner 7's claim template takes the safe user_server",
			tmpl:     "claim-{user_server}", scheme: SlugSafe, user: "Bob.Smith",
			want: "claim-bob-smith---274c9d19",
		},
		{
			sentence: "every placeholder constant is replaced, each time it occurs",
			tmpl:     PlaceholderUsername + "." + PlaceholderServername + "." + PlaceholderUserServer + "." + PlaceholderUsername,
			scheme:   SlugSafe, user: "dora", server: "work",
			want: "dora.work.dora--work.dora",
		},
		{
			sentence: "the old {username}--{servername} template loses its trailing -- for the default server",
			tmpl:     "claim-{username}--{servername}", scheme: SlugSafe, user: "dora",
			want: "claim-dora",
		},
		{
			sentence: "the old template keeps the -- before a named server",
			tmpl:     "claim-{username}--{servername}", scheme: SlugSafe, user: "dora", server: "work",
			want: "claim-dora--work",
		},
		{
			sentence: "a template that itself ends with - keeps every trailing -",
			tmpl:     "claim-{username}--{servername}-", scheme: SlugSafe, user: "dora",
			want: "claim-dora---",
		},
		{
			sentence: "a trailing - that comes from a raw name is stripped too",
			tmpl:     "{unescaped_username}", scheme: SlugSafe, user: "endswith-",
			want: "endswith",
		},
		{
			sentence: "{{ and }} are literal braces",
			tmpl:     "{{x}}-{username}", scheme: SlugSafe, user: "dora",
			want: "{x}-dora",
		},
		{
			sentence: "the escape scheme's {username} may start with -",
			tmpl:     "jupyter-{username}", scheme: SlugEscape, user: "Bob.Smith",
			want: "jupyter--42ob-2e-53mith",
		},
		{
			sentence: "the escape scheme's {user_server} for a named server",
			tmpl:     "claim-{user_server}", scheme: SlugEscape, user: "dora", server: "My Analysis",
			want: "claim-dora---4dy-20-41nalysis",
		},
		{
			sentence: "safe_ fields are the safe scheme's whatever the scheme",
			tmpl:     "{safe_username}/{safe_servername}/{safe_user_server}", scheme: SlugEscape, user: "Bob.Smith", server: "work",
			want: "bob-smith---274c9d19/work/bob-smith---274c9d19--work",
		},
		{
			sentence: "escaped_ fields are the escape scheme's whatever the scheme",
			tmpl:     "{escaped_username}/{escaped_servername}/{escaped_user_server}", scheme: SlugSafe, user: "Bob.Smith", server: "work",
			want: "-42ob-2e-53mith/work/-42ob-2e-53mith--work",
		},
		{
			sentence: "escaped_user_server is joined with -- even for the default server; at the end, the -- is stripped",
			tmpl:     "{escaped_user_server}", scheme: SlugSafe, user: "dora.lee",
			want: "dora-2elee",
		},
		{
			sentence: "escaped_user_server for the default server keeps its -- inside a template",
			tmpl:     "{escaped_user_server}x", scheme: SlugSafe, user: "dora.lee",
			want: "dora-2elee--x",
		},
		{
			sentence: "unescaped_ fields are the raw names",
			tmpl:     "{unescaped_username}/{unescaped_servername}", scheme: SlugSafe, user: "Bob.Smith", server: "My Analysis",
			want: "Bob.Smith/My Analysis",
		},
		{
			sentence: "a template without fields is itself",
			tmpl:     "claim", scheme: SlugSafe, user: "dora",
			want: "claim",
		},
		{sentence: "userid needs the hub's database", tmpl: "claim-{userid}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "hubnamespace needs the hub's namespace", tmpl: "{hubnamespace}-{username}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "pod_name needs KubeSpawner's configuration", tmpl: "{pod_name}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "pvc_name needs KubeSpawner's configuration", tmpl: "{pvc_name}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "namespace needs KubeSpawner's configuration", tmpl: "{namespace}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a field KubeSpawner does not know is an error, as its KeyError", tmpl: "claim-{user}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "an empty positional field is an error", tmpl: "claim-{}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a numbered positional field is an error", tmpl: "claim-{0}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a conversion is not supported", tmpl: "{username!r}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a format specification is not supported", tmpl: "{username:.5}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "an attribute lookup is not supported", tmpl: "{username.upper}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "an index lookup is not supported", tmpl: "{username[0]}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a nested field is not supported", tmpl: "{user{name}}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "an unclosed { is an error", tmpl: "claim-{username", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a single } is an error", tmpl: "claim-username}", scheme: SlugSafe, user: "dora", wantErr: ErrInvalidNameTemplate},
		{sentence: "a slug scheme is case-sensitive, as KubeSpawner's Enum", tmpl: "claim-{user_server}", scheme: "Safe", user: "dora", wantErr: ErrInvalidSlugScheme},
		{sentence: "the zero slug scheme is an error", tmpl: "claim-{user_server}", scheme: "", user: "dora", wantErr: ErrInvalidSlugScheme},
	}
	for _, tc := range tests {
		t.Run(tc.sentence, func(t *testing.T) {
			got, err := ExpandNameTemplate(tc.tmpl, tc.scheme, tc.user, tc.server)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got != "" {
					t.Errorf("ExpandNameTemplate(%q, %q, %q, %q) = (%q, %v); want (\"\", %v)", tc.tmpl, tc.scheme, tc.user, tc.server, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ExpandNameTemplate(%q, %q, %q, %q) = (%q, %v); want %q", tc.tmpl, tc.scheme, tc.user, tc.server, got, err, tc.want)
			}
		})
	}
}

func TestParseSlugScheme(t *testing.T) {
	for _, s := range []SlugScheme{SlugSafe, SlugEscape} {
		if got, err := ParseSlugScheme(string(s)); err != nil || got != s {
			t.Errorf("ParseSlugScheme(%q) = (%q, %v); want %q", s, got, err, s)
		}
	}
	for _, s := range []string{"", "Safe", "ESCAPE", " safe", "safe ", "legacy"} {
		if got, err := ParseSlugScheme(s); !errors.Is(err, ErrInvalidSlugScheme) || got != "" {
			t.Errorf("ParseSlugScheme(%q) = (%q, %v); want ErrInvalidSlugScheme", s, got, err)
		}
	}
}

func TestUserServerNamesPanicsOnAnUnknownSlugScheme(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("UserServerNames with slug scheme \"legacy\" did not panic")
		}
	}()
	UserServerNames("legacy", "dora", "")
}

var (
	// safeSlugPattern is what the safe scheme intends a name part to be (is_valid_object_name): a
	// DNS-1123 and DNS-1035 label, starting with a letter.
	safeSlugPattern = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	// escapeSlugPattern is all the escape scheme promises: [a-z0-9-] and no "-" at the end, so that
	// it is a DNS-1123 label part after a prefix such as "claim-" (its length is unbounded).
	escapeSlugPattern = regexp.MustCompile(`^([-a-z0-9]*[a-z0-9])?$`)
	// dns1123LabelPattern is a DNS-1123 label of any length.
	dns1123LabelPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// checkSlugNames reports what is wrong with the names of (user, server) in scheme.
func checkSlugNames(t *testing.T, scheme SlugScheme, user, server string) {
	t.Helper()
	username, servername, userServer := UserServerNames(scheme, user, server)
	if (servername == "") != (server == "") {
		t.Errorf("%s: servername of (%q, %q) is %q; want it empty exactly for the default server", scheme, user, server, servername)
	}
	parts := []string{username, userServer}
	if server != "" {
		parts = append(parts, servername)
	}
	for _, p := range parts {
		switch scheme {
		case SlugSafe:
			if !safeSlugPattern.MatchString(p) || len(p) > slugMaxLength {
				t.Errorf("safe: (%q, %q) gives %q (%d bytes); want a label of 1..48 bytes of [a-z0-9-], letter first", user, server, p, len(p))
			}
		case SlugEscape:
			if !escapeSlugPattern.MatchString(p) {
				t.Errorf("escape: (%q, %q) gives %q; want [a-z0-9-] not ending in -", user, server, p)
			}
		}
	}
	if userServer == "" { // only the escape scheme's empty user on the default server
		return
	}
	for _, name := range []string{"claim-" + userServer, "jupyter-" + userServer, "volume-" + userServer} {
		switch scheme {
		case SlugSafe:
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Errorf("safe: (%q, %q) gives the name %q: %v", user, server, name, errs)
			}
		case SlugEscape:
			if !dns1123LabelPattern.MatchString(name) {
				t.Errorf("escape: (%q, %q) gives the name %q; want a DNS-1123 label but for its length", user, server, name)
			}
		}
	}
}

func TestUserServerNamesAreDNSLabelParts(t *testing.T) {
	users := []string{"", "x", "-", "---", "9", "Z", "a.", ".a", "\x00", "\xff\xfe", "日本", "İİİ", "\u212A",
		strings.Repeat("ü", 70), strings.Repeat("a-", 40), strings.Repeat("9.", 40), "1" + strings.Repeat("a", 33) + ".b"}
	servers := []string{""}
	for _, r := range slugFixtureRows(t) {
		users = append(users, r.user)
		servers = append(servers, r.server)
	}
	for n := 40; n <= 70; n++ {
		users = append(users, strings.Repeat("u", n))
		servers = append(servers, strings.Repeat("s", n))
	}
	// With the users as servers too: every combination of short, long, hashed and cut names.
	servers = append(servers, users...)
	for _, scheme := range []SlugScheme{SlugSafe, SlugEscape} {
		for _, u := range users {
			for _, s := range servers {
				checkSlugNames(t, scheme, u, s)
			}
		}
	}
}

func FuzzUserServerNames(f *testing.F) {
	for _, r := range slugFixtureRows(f) {
		f.Add(r.user, r.server)
	}
	f.Add("1"+strings.Repeat("a", 33)+".b", "")
	f.Add("İpek", "jupyterhub-zero--jupyterhub-k8s-ab12cd34")
	f.Add("\xff", "\x00")
	f.Fuzz(func(t *testing.T, user, server string) {
		for _, scheme := range []SlugScheme{SlugSafe, SlugEscape} {
			u1, s1, us1 := UserServerNames(scheme, user, server)
			u2, s2, us2 := UserServerNames(scheme, user, server)
			if u1 != u2 || s1 != s2 || us1 != us2 {
				t.Errorf("%s: (%q, %q) gave (%q, %q, %q), then (%q, %q, %q)", scheme, user, server, u1, s1, us1, u2, s2, us2)
			}
			checkSlugNames(t, scheme, user, server)
			if got, err := ExpandNameTemplate(PlaceholderUserServer, scheme, user, server); err != nil || got != us1 {
				t.Errorf("%s: ExpandNameTemplate(%q) for (%q, %q) = (%q, %v); want %q", scheme, PlaceholderUserServer, user, server, got, err, us1)
			}
		}
	})
}

// kubespawnerSlugsTSV is a byte-for-byte copy of ../shared/fixtures/kubespawner-slugs.tsv
// (TestSharedSlugFixtureCopyIsCurrent compares them).
const kubespawnerSlugsTSV = `# captured from KubeSpawner 7.0.0's own slugs.py (safe scheme, 48-character limit), the way _expand_user_properties
# joins them; columns: raw username, raw servername, {username}, {servername}, {user_server}
dora		dora		dora
dora	work	dora	work	dora--work
dora	binder-examples-conda-k3j9x0qa	dora	binder-examples-conda-k3j9x0qa	dora--binder-examples-conda-k3j9x0qa
dora	My Analysis	dora	my-analysis---ecac1317	dora--my-analysis---ecac1317
dora	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	dora	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	dora--zzzzzzzzzzzzzzzzz---186c9f28
Bob.Smith		bob-smith---274c9d19		bob-smith---274c9d19
Bob.Smith	work	bob-smith---274c9d19	work	bob-smith---274c9d19--work
Bob.Smith	binder-examples-conda-k3j9x0qa	bob-smith---274c9d19	binder-examples-conda-k3j9x0qa	bob-smith--binder-examples-c---78e9d220
Bob.Smith	My Analysis	bob-smith---274c9d19	my-analysis---ecac1317	bob-smith---274c9d19--my-analysis---ecac1317
Bob.Smith	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	bob-smith---274c9d19	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	bob-smith--zzzzzzzzzzzzzzzzz---ad06cf71
sam@lab.example.org		sam-lab-example-org---aeb23abf		sam-lab-example-org---aeb23abf
sam@lab.example.org	work	sam-lab-example-org---aeb23abf	work	sam-lab-example-org---aeb23abf--work
sam@lab.example.org	binder-examples-conda-k3j9x0qa	sam-lab-example-org---aeb23abf	binder-examples-conda-k3j9x0qa	sam-lab-example-o--binder-examples-c---5eea9c4a
sam@lab.example.org	My Analysis	sam-lab-example-org---aeb23abf	my-analysis---ecac1317	sam-lab-example-o--my-analysis---8ec94fdd
sam@lab.example.org	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	sam-lab-example-org---aeb23abf	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	sam-lab-example-o--zzzzzzzzzzzzzzzzz---b8a47625
ülrich		lrich---c3db44ca		lrich---c3db44ca
ülrich	work	lrich---c3db44ca	work	lrich---c3db44ca--work
ülrich	binder-examples-conda-k3j9x0qa	lrich---c3db44ca	binder-examples-conda-k3j9x0qa	lrich---c3db44ca--binder-examples-conda-k3j9x0qa
ülrich	My Analysis	lrich---c3db44ca	my-analysis---ecac1317	lrich---c3db44ca--my-analysis---ecac1317
ülrich	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	lrich---c3db44ca	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	lrich--zzzzzzzzzzzzzzzzz---1063a4d4
yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy		yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c		yyyyyyyyyyyyyyyyy--x---02a548e0
yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy	work	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c	work	yyyyyyyyyyyyyyyyy--work---7fd3d51f
yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy	binder-examples-conda-k3j9x0qa	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c	binder-examples-conda-k3j9x0qa	yyyyyyyyyyyyyyyyy--binder-examples-c---61f81d3c
yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy	My Analysis	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c	my-analysis---ecac1317	yyyyyyyyyyyyyyyyy--my-analysis---3365f54f
yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy---fb66d40c	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	yyyyyyyyyyyyyyyyy--zzzzzzzzzzzzzzzzz---da2210b2
team-7		team-7		team-7
team-7	work	team-7	work	team-7--work
team-7	binder-examples-conda-k3j9x0qa	team-7	binder-examples-conda-k3j9x0qa	team-7--binder-examples-conda-k3j9x0qa
team-7	My Analysis	team-7	my-analysis---ecac1317	team-7--my-analysis---ecac1317
team-7	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	team-7	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	team-7--zzzzzzzzzzzzzzzzz---e43d989e
x_y		x-y---f9068e81		x-y---f9068e81
x_y	work	x-y---f9068e81	work	x-y---f9068e81--work
x_y	binder-examples-conda-k3j9x0qa	x-y---f9068e81	binder-examples-conda-k3j9x0qa	x-y---f9068e81--binder-examples-conda-k3j9x0qa
x_y	My Analysis	x-y---f9068e81	my-analysis---ecac1317	x-y---f9068e81--my-analysis---ecac1317
x_y	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	x-y---f9068e81	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	x-y--zzzzzzzzzzzzzzzzz---aecb086c
ALLCAPS		allcaps---27c6794c		allcaps---27c6794c
ALLCAPS	work	allcaps---27c6794c	work	allcaps---27c6794c--work
ALLCAPS	binder-examples-conda-k3j9x0qa	allcaps---27c6794c	binder-examples-conda-k3j9x0qa	allcaps--binder-examples-c---0dcc883c
ALLCAPS	My Analysis	allcaps---27c6794c	my-analysis---ecac1317	allcaps---27c6794c--my-analysis---ecac1317
ALLCAPS	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	allcaps---27c6794c	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	allcaps--zzzzzzzzzzzzzzzzz---1f825dbb
9lives		x-9lives---bc867356		x-9lives---bc867356
9lives	work	x-9lives---bc867356	work	x-9lives---bc867356--work
9lives	binder-examples-conda-k3j9x0qa	x-9lives---bc867356	binder-examples-conda-k3j9x0qa	x-9lives--binder-examples-c---18259647
9lives	My Analysis	x-9lives---bc867356	my-analysis---ecac1317	x-9lives---bc867356--my-analysis---ecac1317
9lives	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	x-9lives---bc867356	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	x-9lives--zzzzzzzzzzzzzzzzz---1e2651f5
zoë.o'neil@example.com		zo-o-neil-example-com---d4c3ad73		zo-o-neil-example-com---d4c3ad73
zoë.o'neil@example.com	work	zo-o-neil-example-com---d4c3ad73	work	zo-o-neil-example-com---d4c3ad73--work
zoë.o'neil@example.com	binder-examples-conda-k3j9x0qa	zo-o-neil-example-com---d4c3ad73	binder-examples-conda-k3j9x0qa	zo-o-neil-example--binder-examples-c---3cf3f44b
zoë.o'neil@example.com	My Analysis	zo-o-neil-example-com---d4c3ad73	my-analysis---ecac1317	zo-o-neil-example--my-analysis---10304469
zoë.o'neil@example.com	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	zo-o-neil-example-com---d4c3ad73	zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz	zo-o-neil-example--zzzzzzzzzzzzzzzzz---769423a4
# escape scheme (older KubeSpawner default): raw username -> escape_slug
escape	dora	dora
escape	Bob.Smith	-42ob-2e-53mith
escape	sam@lab.example.org	sam-40lab-2eexample-2eorg
escape	ülrich	-c3-bclrich
escape	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy	yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy
escape	team-7	team-2d7
escape	x_y	x-5fy
escape	ALLCAPS	-41-4c-4c-43-41-50-53
escape	9lives	9lives
escape	zoë.o'neil@example.com	zo-c3-ab-2eo-27neil-40example-2ecom
`
