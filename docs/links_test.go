package docs

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

// readmeWordBudget is the most words the README may hold, counted as runs of non-space characters
// (what `wc -w` counts), code blocks included: about a five-minute read. What it does, the pod before
// and after, the quick start, the install and one line per topic; the rest goes on a page in docs/.
const readmeWordBudget = 1400

// readme is the README, seen from this folder (go test runs in it).
const readme = "../README.md"

// pages are the Markdown files the links are checked in: the README and every page here.
func pages(t *testing.T) []string {
	t.Helper()
	here, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(here) == 0 {
		t.Fatal("no Markdown page in docs/")
	}
	return append([]string{readme}, here...)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEveryRelativeLinkPointsToAFileThatExistsAndAnAnchorToAHeadingOfIt(t *testing.T) {
	for _, page := range pages(t) {
		t.Run(filepath.Base(page), func(t *testing.T) {
			links := linksOf(read(t, page))
			if filepath.Base(page) == "README.md" && len(links) < 10 {
				t.Fatalf("found only %d links in %s: is the link pattern still right?", len(links), page)
			}
			for _, problem := range brokenLinks(page, links) {
				t.Error(problem)
			}
		})
	}
}

func TestEveryMakeTargetTheREADMEAndTheDevelopmentPageNameIsInTheMakefile(t *testing.T) {
	targets := makeTargets(read(t, "../Makefile"))
	if !targets["help"] || !targets["test"] {
		t.Fatalf("the Makefile's targets were not found (is the pattern still right?): %v", targets)
	}
	for _, page := range []string{readme, "development.md"} {
		t.Run(filepath.Base(page), func(t *testing.T) {
			named := makeCommands(read(t, page))
			if len(named) == 0 {
				t.Fatalf("%s names no make target: is the pattern still right?", page)
			}
			for _, n := range named {
				if !targets[n.target] {
					t.Errorf("%s:%d: `make %s` is not a target of the Makefile", page, n.line, n.target)
				}
			}
		})
	}
}

func TestTheREADMENamesTheTwoCommandsOfTheQuickStart(t *testing.T) {
	var named []string
	for _, n := range makeCommands(read(t, readme)) {
		named = append(named, n.target)
	}
	for _, want := range []string{"demo", "test"} {
		if !slices.Contains(named, want) {
			t.Errorf("the README does not name `make %s`", want)
		}
	}
}

func TestEveryPageInDocsIsLinkedFromTheREADME(t *testing.T) {
	linked := map[string]bool{}
	for _, l := range linksOf(read(t, readme)) {
		path, _, _ := strings.Cut(l.target, "#")
		linked[filepath.Clean(path)] = true
	}
	for _, page := range pages(t)[1:] {
		if !linked[filepath.Join("docs", page)] {
			t.Errorf("docs/%s is not linked from the README: give it a line under \"Read more\"", page)
		}
	}
}

func TestTheREADMEStaysWithinItsWordBudget(t *testing.T) {
	if n := len(strings.Fields(read(t, readme))); n > readmeWordBudget {
		t.Errorf("the README has %d words, more than its budget of %d: move the detail to a page in docs/ and link it", n, readmeWordBudget)
	}
}

// The checker, checked on pages made for the purpose.

func TestABrokenLinkAndAMissingHeadingAreReported(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sub/other.md", "# Other\n\n## Named servers (`allowNamedServers`)\n\n## Twice\n\n## Twice\n")
	write("sub/pic.png", "")
	page := "# Page\n\n" +
		"[fine](sub/other.md) [fine](sub/other.md#named-servers-allownamedservers) [fine](sub/other.md#twice-1)\n" +
		"![fine](sub/pic.png) [fine](#page) [fine](https://example.org/nowhere) [fine](mailto:a@example.org)\n" +
		"`[not a link](nowhere.md)` and\n\n```\n[not a link either](nowhere.md)\n```\n\n" +
		"[gone](sub/gone.md)\n" +
		"[no such heading](sub/other.md#named-servers)\n" +
		"[no such heading here](#nowhere)\n" +
		"[a third twice](sub/other.md#twice-2 \"title\")\n" +
		"[ref]: sub/missing.png\n"
	write("page.md", page)
	path := filepath.Join(dir, "page.md")
	var got []string
	for _, p := range brokenLinks(path, linksOf(page)) {
		got = append(got, strings.TrimPrefix(p, path))
	}
	want := []string{
		":11: sub/gone.md: no such file",
		":12: sub/other.md#named-servers: no heading of other.md has the anchor named-servers",
		":13: #nowhere: no heading of page.md has the anchor nowhere",
		":14: sub/other.md#twice-2: no heading of other.md has the anchor twice-2",
		":15: sub/missing.png: no such file",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestHeadingsGetGitHubsAnchors(t *testing.T) {
	text := "# binder-projects\n" +
		"## Named servers (`allowNamedServers`)\n" +
		"## 1. Admission against the framework floor\n" +
		"## The projects on the hub's home page\n" +
		"### `binder-projects serve` flags\n" +
		"## Not while the project is open in [another server](x.md)\n" +
		"## Exit status and report ##\n" +
		"## Exit status and report\n" +
		"## Größe und Ähnliches\n" +
		"```\n# not a heading\n```\n" +
		"#not a heading either\n" +
		"<a id=\"explicit\"></a>\n"
	want := []string{
		"binder-projects",
		"named-servers-allownamedservers",
		"1-admission-against-the-framework-floor",
		"the-projects-on-the-hubs-home-page",
		"binder-projects-serve-flags",
		"not-while-the-project-is-open-in-another-server",
		"exit-status-and-report",
		"exit-status-and-report-1",
		"größe-und-ähnliches",
		"explicit",
	}
	if diff := cmp.Diff(want, anchorsOf(text)); diff != "" {
		t.Errorf("anchors (-want +got):\n%s", diff)
	}
}

// A link is a link's target where it stands.
type link struct {
	line   int
	target string
}

var (
	fenceLine  = regexp.MustCompile("^ {0,3}(```|~~~)")
	codeSpan   = regexp.MustCompile("`(?:[^`\\n]|\\n[^`\\n])*`")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	htmlRef    = regexp.MustCompile(`(?:href|src)="([^"]+)"`)
	scheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// inFence says, for each line, whether it belongs to a fenced code block (its fences included).
func inFence(lines []string) []bool {
	fenced := make([]bool, len(lines))
	fence := ""
	for i, l := range lines {
		m := fenceLine.FindStringSubmatch(l)
		switch {
		case m != nil && fence == "":
			fence = m[1]
		case m != nil && m[1] == fence:
			fence = ""
		case fence == "":
			continue
		}
		fenced[i] = true
	}
	return fenced
}

// withoutFences is text with every line of its fenced code blocks left empty (so that line numbers
// stay).
func withoutFences(text string) string {
	lines := strings.Split(text, "\n")
	for i, f := range inFence(lines) {
		if f {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// prose is text without its fenced code blocks and inline code spans (their lines left empty, so
// that line numbers stay): where Markdown makes links.
func prose(text string) string {
	return codeSpan.ReplaceAllStringFunc(withoutFences(text), func(s string) string {
		return "code" + strings.Repeat("\n", strings.Count(s, "\n"))
	})
}

func lineAt(text string, offset int) int { return 1 + strings.Count(text[:offset], "\n") }

// linksOf finds the links of a Markdown text: inline links and images, reference definitions and the
// href and src of HTML, outside code.
func linksOf(text string) []link {
	p := prose(text)
	var links []link
	for _, re := range []*regexp.Regexp{inlineLink, refDef, htmlRef} {
		for _, m := range re.FindAllStringSubmatchIndex(p, -1) {
			links = append(links, link{line: lineAt(p, m[0]), target: p[m[2]:m[3]]})
		}
	}
	slices.SortStableFunc(links, func(a, b link) int { return a.line - b.line })
	return links
}

// brokenLinks says what is wrong with the relative links of page: a file that does not exist, an
// anchor that no heading of a Markdown file has. Links with a scheme (https:, mailto:) are not
// followed.
func brokenLinks(page string, links []link) []string {
	var problems []string
	anchors := map[string][]string{}
	for _, l := range links {
		if scheme.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
			continue
		}
		problem := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: ", page, l.line, l.target)+fmt.Sprintf(format, args...))
		}
		rawPath, frag, _ := strings.Cut(l.target, "#")
		path, err := url.PathUnescape(rawPath)
		if err != nil {
			problem("%v", err)
			continue
		}
		file := page
		if path != "" {
			file = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
			if _, err := os.Stat(file); err != nil {
				problem("no such file")
				continue
			}
		}
		if frag == "" || !strings.HasSuffix(file, ".md") {
			continue
		}
		if frag, err = url.PathUnescape(frag); err != nil {
			problem("%v", err)
			continue
		}
		if _, ok := anchors[file]; !ok {
			b, err := os.ReadFile(file)
			if err != nil {
				problem("%v", err)
				continue
			}
			anchors[file] = anchorsOf(string(b))
		}
		if !slices.Contains(anchors[file], frag) {
			problem("no heading of %s has the anchor %s", filepath.Base(file), frag)
		}
	}
	return problems
}

var (
	atxHeading   = regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	explicitID   = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	markdownLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag      = regexp.MustCompile(`<[^>]+>`)
)

// anchorsOf returns the anchors GitHub gives a Markdown text, in order: one per ATX heading (the only
// kind these pages use) outside fenced code, and the explicit <a id> and <a name> anchors outside
// code. A heading's anchor is its text (a link's or an image's text, no HTML tags, code spans' text
// kept) in lower case, without the characters that are not letters, marks, numbers, connector
// punctuation, hyphens or spaces, each space a hyphen; the second heading with the same anchor gets
// "-1", the third "-2".
func anchorsOf(text string) []string {
	var anchors []string
	seen := map[string]int{}
	lines := strings.Split(text, "\n")
	fenced := inFence(lines)
	proseLines := strings.Split(prose(text), "\n")
	for i, l := range lines {
		if fenced[i] {
			continue
		}
		if m := atxHeading.FindStringSubmatch(l); m != nil {
			slug := slugOf(m[1])
			anchor := slug
			if n := seen[slug]; n > 0 {
				anchor = fmt.Sprintf("%s-%d", slug, n)
			}
			seen[slug]++
			anchors = append(anchors, anchor)
		}
		for _, m := range explicitID.FindAllStringSubmatch(proseLines[i], -1) {
			anchors = append(anchors, m[1])
		}
	}
	return anchors
}

// slugOf is GitHub's anchor of a heading's text.
func slugOf(heading string) string {
	heading = markdownLink.ReplaceAllString(heading, "$1")
	heading = htmlTag.ReplaceAllString(heading, "")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-', unicode.IsLetter(r), unicode.IsMark(r), unicode.IsNumber(r), unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// A makeCommand is a `make <target>` a page names.
type makeCommand struct {
	line   int
	target string
}

var (
	makeRule       = regexp.MustCompile(`(?m)^([A-Za-z0-9_.-][A-Za-z0-9_. -]*?)[ \t]*::?(?:[^=]|$)`)
	makeInCodeSpan = regexp.MustCompile("^`(?:[A-Z_][A-Z0-9_]*=\\S*\\s+)*make\\s+([A-Za-z0-9_.-]+)")
	makeInBlock    = regexp.MustCompile(`^\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*make\s+([A-Za-z0-9_.-]+)`)
)

// makeTargets are the targets of a Makefile's rules.
func makeTargets(makefile string) map[string]bool {
	targets := map[string]bool{}
	for _, m := range makeRule.FindAllStringSubmatch(makefile, -1) {
		for _, t := range strings.Fields(m[1]) {
			if !strings.HasPrefix(t, ".") {
				targets[t] = true
			}
		}
	}
	return targets
}

// makeCommands are the make commands a Markdown text names: in a code span (`make demo`) or at the
// start of a line of a fenced code block, after any VAR=value.
func makeCommands(text string) []makeCommand {
	var named []makeCommand
	lines := strings.Split(text, "\n")
	for i, f := range inFence(lines) {
		if m := makeInBlock.FindStringSubmatch(lines[i]); f && m != nil {
			named = append(named, makeCommand{line: i + 1, target: m[1]})
		}
	}
	out := withoutFences(text)
	for _, span := range codeSpan.FindAllStringIndex(out, -1) {
		if m := makeInCodeSpan.FindStringSubmatch(out[span[0]:span[1]]); m != nil && !strings.HasPrefix(m[1], "-") {
			named = append(named, makeCommand{line: lineAt(out, span[0]), target: m[1]})
		}
	}
	return named
}
