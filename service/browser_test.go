package service

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/projects"
)

// TestTheProjectsPageInChromium drives the page in Debian's headless Chromium through the whole
// path a user takes: the hub's login and OAuth flow, the table, a hostile repository URL shown as
// text, Delete with its confirmation, and the launch form. Screenshots are kept in the artifacts
// folder (see artifactsDir).
func TestTheProjectsPageInChromium(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := startBrowser(t)

	// An unauthenticated browser goes through the hub's OAuth flow: the hub asks it to log in.
	b.navigate(w.origin + w.prefix)
	b.waitFor("the hub's login page", `return document.getElementById("username_input") !== null`)
	b.screenshot("01-hub-login")
	b.typeInto("#username_input", "bitnik")
	b.typeInto("#password_input", w.hub.Password)
	b.click("#login_submit")
	b.waitFor("the projects page", `return document.title === "Your projects"`)
	if got := b.currentURL(); got != w.origin+w.prefix {
		t.Errorf("after the login the browser is at %s, want the projects page %s", got, w.origin+w.prefix)
	}

	t.Run("the page shows the user's projects, most recently used first", func(t *testing.T) {
		if got := b.text("h1"); got != "Your projects" {
			t.Errorf("heading = %q", got)
		}
		var folders []string
		b.js(&folders, `return Array.from(document.querySelectorAll("#projects tbody tr")).map(r => r.dataset.folder)`)
		want := []string{requirements.Dir, conda.Dir, gitlab.Dir, hostile.Dir}
		if diff := cmp.Diff(want, folders); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if got := b.text(`tr[data-folder="` + requirements.Dir + `"] a.launch`); got != "Launch" {
			t.Errorf("the Launch link reads %q", got)
		}
		var launch string
		b.js(&launch, `return document.querySelector('tr[data-folder="`+requirements.Dir+`"] a.launch').href`)
		if want := w.hub.BinderURL + "v2/gh/binder-examples/requirements/HEAD"; launch != want {
			t.Errorf("Launch goes to %s, want %s", launch, want)
		}
	})

	t.Run("a hostile repository URL is shown as text and runs no script", func(t *testing.T) {
		if got := b.alertText(); got != "" {
			t.Fatalf("an alert is open: %q (the injected script ran)", got)
		}
		if got := b.text(`tr[data-folder="` + hostile.Dir + `"] td.repo`); got != hostileURL {
			t.Errorf("the repository cell reads %q, want the URL as text %q", got, hostileURL)
		}
		var state struct {
			Title   string `json:"title"`
			Pwned   bool   `json:"pwned"`
			Scripts int    `json:"scripts"`
		}
		b.js(&state, `return {title: document.title, pwned: window.pwned !== undefined, scripts: document.scripts.length}`)
		if state.Title != "Your projects" || state.Pwned || state.Scripts != 1 {
			t.Errorf("page state = %+v, want the title untouched, no window.pwned and only the page's own script", state)
		}
	})
	b.screenshot("02-projects")

	t.Run("Delete asks for confirmation naming the folder; dismissing it keeps the project", func(t *testing.T) {
		b.click(`tr[data-folder="` + conda.Dir + `"] button.delete`)
		question := b.alertText()
		for _, want := range []string{`Delete the project "` + conda.Dir + `"?`, "The folder " + conda.Dir + " and all its files are deleted the next time your server starts."} {
			if !strings.Contains(question, want) {
				t.Errorf("confirmation %q does not say %q", question, want)
			}
		}
		b.dismissAlert()
		var present bool
		b.js(&present, `return document.querySelector('tr[data-folder="`+conda.Dir+`"]') !== null`)
		if !present {
			t.Error("the row went although the deletion was not confirmed")
		}
		if got := w.registryOf(t, "claim-bitnik"); len(got.Deletions) != 0 {
			t.Errorf("something was queued: %+v", got.Deletions)
		}
	})

	t.Run("Delete, confirmed, removes the row and queues the folder on the claim", func(t *testing.T) {
		b.click(`tr[data-folder="` + requirements.Dir + `"] button.delete`)
		question := b.alertText()
		if !strings.Contains(question, requirements.Dir) || !strings.Contains(question, "all its files are deleted") {
			t.Errorf("confirmation %q does not name the folder and what is lost", question)
		}
		b.acceptAlert()
		b.waitFor("the row to go", `return document.querySelector('tr[data-folder="`+requirements.Dir+`"]') === null`)
		if got := b.text("#status"); !strings.Contains(got, "Deleted "+requirements.Dir) {
			t.Errorf("status reads %q", got)
		}
		want := projects.Registry{Projects: []projects.Project{conda, gitlab, hostile},
			Deletions: []projects.Queued{{Dir: requirements.Dir, QueuedAt: testNow}}}
		if diff := cmp.Diff(want, w.registryOf(t, "claim-bitnik")); diff != "" {
			t.Errorf("registry on claim-bitnik (-want +got):\n%s", diff)
		}
		b.screenshot("03-after-delete")
	})

	t.Run("the launch form makes BinderHub's v2 URL and goes there", func(t *testing.T) {
		b.typeInto("#repository", "https://github.com/binder-examples/conda")
		b.typeInto("#ref", "main")
		if got, want := b.text("#launch-url"), w.hub.BinderURL+"v2/gh/binder-examples/conda/main"; got != want {
			t.Errorf("GitHub launch URL = %q, want %q", got, want)
		}
		b.click(`#provider option[value="gl"]`)
		b.typeInto("#repository", "https://gitlab.com/gesis/notebooks/analysis.git")
		b.typeInto("#ref", "v1.0")
		want := w.hub.BinderURL + "v2/gl/gesis%2Fnotebooks%2Fanalysis/v1.0"
		if got := b.text("#launch-url"); got != want {
			t.Errorf("GitLab launch URL = %q, want %q", got, want)
		}
		b.click(`#provider option[value="git"]`)
		b.typeInto("#repository", "https://git.example.org/group/repo.git")
		b.typeInto("#ref", "")
		if got, want := b.text("#launch-url"), w.hub.BinderURL+"v2/git/https%3A%2F%2Fgit.example.org%2Fgroup%2Frepo.git/HEAD"; got != want {
			t.Errorf("git launch URL = %q, want %q", got, want)
		}
		b.click(`#provider option[value="gl"]`)
		b.typeInto("#repository", "gesis/notebooks/analysis")
		b.typeInto("#ref", "v1.0")
		b.screenshot("04-launch-form")
		b.click("#launch-button")
		b.waitFor("BinderHub's page", `return document.location.pathname.startsWith(arguments[0])`, w.hub.BaseURL+"services/binder/")
		if got := b.currentURL(); got != want {
			t.Errorf("the form went to %s, want %s", got, want)
		}
		if got := b.text("body"); !strings.Contains(got, "/services/binder/v2/gl/gesis%2Fnotebooks%2Fanalysis/v1.0") {
			t.Errorf("BinderHub stand-in got %q", got)
		}
	})
}
