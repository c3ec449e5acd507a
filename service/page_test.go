package service

import (
	"bytes"
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// renderPage renders the projects page of bitnik with d's projects and note, as page does.
func renderPage(t *testing.T, d pageData) string {
	t.Helper()
	d.Title, d.Nonce, d.Hub, d.Prefix, d.Me, d.User = "Your projects", "n0nce", "/hub/", "/services/projects/", "bitnik", "bitnik"
	var buf bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&buf, "page", d); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// repoCells are the repository cells of a rendered page, by the row's folder.
func repoCells(page string) map[string]string {
	cells := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<tr data-folder="([^"]+)">.*?<td class="repo">(.*?)</td>`).FindAllStringSubmatch(page, -1) {
		cells[m[1]] = m[2]
	}
	return cells
}

func TestOnlyHTTPAndHTTPSRepositoryURLsAreLinks(t *testing.T) {
	for _, tt := range []struct {
		sentence, url string
		link          bool
	}{
		{"an https URL is a link", "https://github.com/binder-examples/conda", true},
		{"an http URL with the scheme in capitals is a link", "HTTP://git.example.org/group/repo.git", true},
		{"a javascript: URL is text", "javascript:alert(document.domain)", false},
		{"a javascript: URL in mixed case is text", "JaVaScRiPt:alert(1)", false},
		{"a javascript: URL after a space is text", " javascript:alert(1)", false},
		{"a data: URL is text", "data:text/html,<script>alert(1)</script>", false},
		{"a vbscript: URL is text", "vbscript:msgbox(1)", false},
		{"an scp-like git URL is text", "git@github.com:binder-examples/conda.git", false},
		{"an ssh URL is text", "ssh://git@gitlab.com/gesis/notebooks.git", false},
		{"a mailto: URL is text", "mailto:someone@example.org", false},
		{"a URL without a scheme is text", "github.com/binder-examples/conda", false},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			page := renderPage(t, pageData{Projects: []pageProject{{Listed: projects.Listed{Project: projects.Project{Dir: "gh_a_b", RepoURL: tt.url}}}}})
			if strings.Contains(page, "ZgotmplZ") {
				t.Errorf("the page has html/template's #ZgotmplZ:\n%s", page)
			}
			cell, ok := repoCells(page)["gh_a_b"]
			if !ok {
				t.Fatalf("no row for gh_a_b:\n%s", page)
			}
			if tt.link {
				want := `<a href="` + html.EscapeString(tt.url) + `" rel="noopener noreferrer">` + html.EscapeString(tt.url) + `</a>`
				if cell != want {
					t.Errorf("repository cell = %s, want the link %s", cell, want)
				}
				return
			}
			if strings.Contains(cell, "<") || html.UnescapeString(cell) != tt.url {
				t.Errorf("repository cell = %s, want the URL %q as plain text", cell, tt.url)
			}
		})
	}
}

func TestThePageSaysWhatCouldNotBeRead(t *testing.T) {
	one := &projects.Unreadable{Claim: "claim-bitnik", Annotation: projects.AnnotationProjects, Entries: 1, Of: 3}
	two := &projects.Unreadable{Claim: "claim-bitnik--gpu", Annotation: projects.AnnotationProjects, Entries: 2, Of: 2}
	whole := &projects.Unreadable{Claim: "claim-bitnik", Annotation: projects.AnnotationProjects}
	queue := &projects.Unreadable{Claim: "claim-bitnik", Annotation: projects.AnnotationDeleteQueue, Entries: 1, Of: 1}
	for _, tt := range []struct {
		sentence string
		bad      []*projects.Unreadable
		whose    string
		want     string
	}{
		{"one entry", []*projects.Unreadable{one}, "your", "One entry of your projects could not be read, so it is not listed."},
		{"entries of two claims add up", []*projects.Unreadable{one, two}, "bitnik's", "3 entries of bitnik's projects could not be read, so they are not listed."},
		{"a list that could not be read at all", []*projects.Unreadable{one, whole}, "your", "The list of your projects could not be read, so some may be missing here."},
		{"everything could be read", nil, "your", ""},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			got := unreadableNote(tt.bad, tt.whose)
			if !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
				t.Errorf("note = %q, want it to start with %q", got, tt.want)
			}
		})
	}

	t.Run("only the projects annotation counts, found anywhere in the store's error", func(t *testing.T) {
		got := unreadableProjects(errors.Join(errors.Join(queue, one), two))
		if len(got) != 2 || got[0] != one || got[1] != two {
			t.Errorf("unreadable projects = %v, want the two of the projects annotation", got)
		}
	})

	t.Run("the page lists the rest and says so, instead of saying there are no projects", func(t *testing.T) {
		rest := pageProject{Listed: projects.Listed{Project: projects.Project{Dir: contract.ProjectDir("gh_a_b"), RepoURL: "https://github.com/a/b"}}}
		for _, rows := range [][]pageProject{{rest}, nil} {
			page := renderPage(t, pageData{Projects: rows, Unreadable: unreadableNote([]*projects.Unreadable{one}, "your")})
			if !strings.Contains(page, `<div id="unreadable" class="alert alert-warning" role="alert">One entry of your projects could not be read`) {
				t.Errorf("with %d rows the page does not say that one entry could not be read:\n%s", len(rows), page)
			}
			if strings.Contains(page, "You have no projects yet") {
				t.Errorf("with %d rows the page says there are no projects", len(rows))
			}
		}
	})
}
