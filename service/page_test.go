package service

import (
	"bytes"
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

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
			got := unreadableNote(tt.bad, tt.whose, "projects")
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
			page := renderPage(t, pageData{Projects: rows, Unreadable: unreadableNote([]*projects.Unreadable{one}, "your", "projects")})
			if !strings.Contains(page, `<div id="unreadable" class="alert alert-warning" role="alert">One entry of your projects could not be read`) {
				t.Errorf("with %d rows the page does not say that one entry could not be read:\n%s", len(rows), page)
			}
			if strings.Contains(page, "You have no projects yet") {
				t.Errorf("with %d rows the page says there are no projects", len(rows))
			}
		}
	})
}

func TestSizesAndDatesForAPerson(t *testing.T) {
	for _, tt := range []struct {
		bytes int64
		want  string
	}{{0, "0 B"}, {812, "812 B"}, {1536, "1.5 KiB"}, {40 << 10, "40.0 KiB"}, {3 << 29, "1.5 GiB"}, {10 << 30, "10.0 GiB"}, {5 << 40, "5.0 TiB"}} {
		if got := projects.HumanBytes(tt.bytes); got != tt.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tt.bytes, got, tt.want)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{24 * time.Hour, "1 day"}, {90 * 24 * time.Hour, "90 days"}, {36 * time.Hour, "36h0m0s"}} {
		if got := projects.ExpireAfterWords(tt.d); got != tt.want {
			t.Errorf("ExpireAfterWords(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestAProjectExpiringWithinTwoWeeksSaysWhen(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	expiring := func(at time.Time) projects.Listed { return projects.Listed{Expires: &at} }
	for _, tt := range []struct {
		sentence string
		p        projects.Listed
		want     string
	}{
		{"a project that never expires says nothing", projects.Listed{}, ""},
		{"one expiring in 15 days says nothing yet", expiring(now.Add(15 * 24 * time.Hour)), ""},
		{"one expiring in exactly 14 days says the date", expiring(now.Add(14 * 24 * time.Hour)), "removed on 18 May 2026 unless you launch it"},
		{"one expiring tomorrow says the date", expiring(now.Add(20 * time.Hour)), "removed on 5 May 2026 unless you launch it"},
		{"one expired, not swept yet, goes within the hour", expiring(now.Add(-time.Minute)), "removed within the hour unless you launch it"},
	} {
		t.Run(tt.sentence, func(t *testing.T) {
			if got := expiryNote(tt.p, now); got != tt.want {
				t.Errorf("note = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestThePageShowsTheStorageAndRecentlyDeleted(t *testing.T) {
	s := &Server{cfg: Config{TrashDays: 7}}
	until := julia.DeletedAt.Add(7 * 24 * time.Hour)
	trash := []projects.ListedTrash{{Trashed: notes, ID: trashID(notes)}, {Trashed: julia, ID: trashID(julia), KeptUntil: &until}}
	rows := []pageProject{{Listed: projects.Listed{Project: sizedConda}}, {Listed: projects.Listed{Project: hostile}}}

	t.Run("the usage, each project's size with when it was measured, and the trash with what happens next", func(t *testing.T) {
		page := renderPage(t, pageData{Projects: rows, Whose: "your", TrashDays: 7, Trash: trash,
			Usage: s.usageOf([]projects.Storage{{Claim: "claim-bitnik", Usage: fullUsage}}, "your")})
		for _, want := range []string{
			`<span id="storage-used">9.3 GiB of 10.0 GiB used (93 %)</span>`,
			`The filesystem of your storage. Measured <time datetime="2026-05-04T09:00:00Z">4 May 2026, 09:00 UTC</time>`,
			`<div id="storage-warning" class="alert alert-danger" role="alert">Your storage is 93 % full: delete projects you no longer need.`,
			`<td class="size"><span title="measured 4 May 2026, 09:00 UTC">3.1 GiB</span></td>`,
			`<td class="size"><span title="not measured yet: each start of a server measures the projects it has time for">–</span></td>`,
			`<h2 id="trash-heading">Recently deleted</h2>`,
			`<tr data-folder="gh_bitnik_old-notes" data-id="` + trashID(notes) + `">`,
			`goes to the trash at your next server start, for 7 days`,
			`goes for good on 8 May 2026</span>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the page has no %s", want)
			}
		}
	})

	t.Run("on a shared filesystem the page says the usage is against the claim's capacity", func(t *testing.T) {
		shared := *fullUsage
		shared.Basis = projects.UsageClaim
		page := renderPage(t, pageData{Whose: "bitnik's", Usage: s.usageOf([]projects.Storage{{Usage: &shared}}, "bitnik's")})
		if !strings.Contains(html.UnescapeString(page), "What bitnik's projects and recently deleted ones take, against the capacity of bitnik's storage (it is on a shared filesystem") {
			t.Errorf("the page does not say the basis:\n%s", page)
		}
	})

	t.Run("a storage not measured yet says when it will be", func(t *testing.T) {
		page := renderPage(t, pageData{Whose: "your"})
		if !strings.Contains(page, `<span id="storage-used">not measured yet: each start of your server measures it.</span>`) || strings.Contains(page, "<meter") {
			t.Errorf("the page does not say the storage was not measured:\n%s", page)
		}
	})

	t.Run("restore and delete forever asked for say so, and offer the other", func(t *testing.T) {
		restoring, purging := trash[1], trash[1]
		restoring.Restoring, purging.Purging = true, true
		page := renderPage(t, pageData{Whose: "your", TrashDays: 7, Trash: []projects.ListedTrash{restoring}})
		if !strings.Contains(page, "restored at your next server start") || strings.Contains(page, `class="restore"`) || !strings.Contains(page, `class="purge"`) {
			t.Errorf("a restore asked for:\n%s", page)
		}
		page = renderPage(t, pageData{Whose: "your", TrashDays: 7, Trash: []projects.ListedTrash{purging}})
		if !strings.Contains(page, "deleted for good at your next server start") || !strings.Contains(page, `class="restore"`) || strings.Contains(page, `class="purge"`) {
			t.Errorf("a deletion for good asked for:\n%s", page)
		}
		restoring.StartsBefore, purging.StartsBefore = 2, 1
		page = renderPage(t, pageData{Whose: "your", TrashDays: 7, Trash: []projects.ListedTrash{restoring, purging}})
		if !strings.Contains(page, "restored in 3 server starts (each start restores 4)") || !strings.Contains(page, "deleted for good in 2 server starts (each start deletes 32)") ||
			strings.Contains(page, "next server start") {
			t.Errorf("a restore and a deletion for good that wait for later starts:\n%s", page)
		}
	})

	t.Run("without trash days there is no trash, and no Recently deleted", func(t *testing.T) {
		page := renderPage(t, pageData{Whose: "your", Trash: trash})
		if strings.Contains(page, "Recently deleted</h2>") || strings.Contains(page, `id="trash"`) {
			t.Errorf("the page has a Recently deleted section without a trash:\n%s", page)
		}
	})
}
