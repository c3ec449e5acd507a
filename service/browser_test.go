package service

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/contract"
	"github.com/binder-projects/binder-projects/projects"
)

// TestTheProjectsPageInChromium drives the page in Debian's headless Chromium through the real hub's
// proxy along the whole path a user takes: two tabs that both start the hub's login and OAuth flow
// before either has logged in, the table, hostile repository URLs shown as text (a javascript: one not
// as a link), Delete with its confirmation, Launch from the table and from the form (to a BinderHub
// stand-in behind the proxy), and the hub's logout, which ends the service's session. Screenshots are
// kept in the artifacts folder (see artifactsDir).
func TestTheProjectsPageInChromium(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := startBrowser(t)
	page := w.origin + w.prefix
	loginPage := `return document.getElementById("username_input") !== null`
	projectsPage := `return document.title === "Your projects"`
	logIn := func() {
		t.Helper()
		b.typeInto("#username_input", "bitnik")
		b.typeInto("#password_input", w.hub.Password)
		b.click("#login_submit")
	}

	// Two tabs open the page before either has logged in: each is sent through the hub's OAuth flow
	// with its own state, and the hub asks each to log in.
	first := b.window()
	b.navigate(page)
	b.waitFor("the hub's login page in the first tab", loginPage)
	b.screenshot("01-hub-login")
	second := b.newTab()
	b.switchTo(second)
	b.navigate(page)
	b.waitFor("the hub's login page in the second tab", loginPage)
	// The second tab logs in first, then the first tab: both end on the projects page.
	logIn()
	b.waitFor("the projects page in the second tab", projectsPage)
	b.switchTo(first)
	logIn()
	b.waitFor("the projects page in the first tab", projectsPage)
	if got := b.currentURL(); got != page {
		t.Errorf("after the login the first tab is at %s, want the projects page %s", got, page)
	}
	b.switchTo(second)
	if got := b.currentURL(); got != page {
		t.Errorf("after the login the second tab is at %s, want the projects page %s", got, page)
	}
	b.switchTo(first)

	t.Run("the page shows the user's projects, most recently used first", func(t *testing.T) {
		if got := b.text("h1"); got != "Your projects" {
			t.Errorf("heading = %q", got)
		}
		var folders []string
		b.js(&folders, `return Array.from(document.querySelectorAll("#projects tbody tr")).map(r => r.dataset.folder)`)
		want := []string{string(requirements.Dir), string(conda.Dir), string(gitlab.Dir), string(hostile.Dir), string(scriptLink.Dir)}
		if diff := cmp.Diff(want, folders); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if got := b.text(`tr[data-folder="` + string(requirements.Dir) + `"] a.launch`); got != "Launch" {
			t.Errorf("the Launch link reads %q", got)
		}
		var launch string
		b.js(&launch, `return document.querySelector('tr[data-folder="`+string(requirements.Dir)+`"] a.launch').href`)
		if want := w.hub.BinderURL + "v2/gh/binder-examples/requirements/" + requirements.Commit; launch != want {
			t.Errorf("Launch goes to %s, want %s", launch, want)
		}
	})

	t.Run("the page carries the hub's navigation bar, as the hub's own pages show it, without the Services menu the service may not read", func(t *testing.T) {
		hub := b.hubNavBar(w)
		ours := b.navBar()
		if diff := cmp.Diff(withoutServices(hub), ours); diff != "" {
			t.Errorf("navigation bar (-the hub's, without Services +the projects page's):\n%s", diff)
		}
		want := []string{"Home " + w.origin + "/hub/home", "Token " + w.origin + "/hub/token"}
		if diff := cmp.Diff(want, ours.Items); diff != "" || ours.User != "bitnik" {
			t.Errorf("a plain user's items (-want +got):\n%s\nuser %q", diff, ours.User)
		}
		var logo int
		b.js(&logo, `return document.querySelector("#jupyterhub-logo img").naturalWidth`)
		if logo == 0 {
			t.Error("the hub's logo did not load")
		}
	})

	t.Run("a hostile repository URL is shown as text and runs no script", func(t *testing.T) {
		if got := b.alertText(); got != "" {
			t.Fatalf("an alert is open: %q (the injected script ran)", got)
		}
		if got := b.text(`tr[data-folder="` + string(hostile.Dir) + `"] td.repo`); got != hostileURL {
			t.Errorf("the repository cell reads %q, want the URL as text %q", got, hostileURL)
		}
		var state struct {
			Title   string `json:"title"`
			Pwned   bool   `json:"pwned"`
			Scripts int    `json:"scripts"`
		}
		b.js(&state, `return {title: document.title, pwned: window.pwned !== undefined, scripts: document.scripts.length}`)
		if state.Title != "Your projects" || state.Pwned || state.Scripts != 2 {
			t.Errorf("page state = %+v, want the title untouched, no window.pwned and only the page's own scripts (the navigation bar's and the page's)", state)
		}
	})

	t.Run("a javascript: repository URL is shown as text, not as a link", func(t *testing.T) {
		cell := `tr[data-folder="` + string(scriptLink.Dir) + `"] td.repo`
		var got struct {
			Text  string `json:"text"`
			Links int    `json:"links"`
			Bad   int    `json:"bad"`
		}
		b.js(&got, `const cell = document.querySelector(arguments[0]);
			return {text: cell.textContent, links: cell.querySelectorAll("a").length,
				bad: document.querySelectorAll('a[href*="ZgotmplZ"], a[href^="javascript:" i]').length}`, cell)
		if got.Text != scriptLinkURL || got.Links != 0 || got.Bad != 0 {
			t.Errorf("the repository cell = %+v, want the URL %q as text, no link in it, and no link on the page to #ZgotmplZ or javascript:", got, scriptLinkURL)
		}
		var links []string
		b.js(&links, `return Array.from(document.querySelectorAll("td.repo a")).map(a => a.href)`)
		for _, l := range links {
			if !strings.HasPrefix(l, "https://") {
				t.Errorf("a repository link goes to %s, not to a repository (the fixtures' are all https)", l)
			}
		}
	})
	b.screenshot("02-projects")

	t.Run("Update to the latest commit queues an update on the claim and offers the launch of the latest commit", func(t *testing.T) {
		b.click(`tr[data-folder="` + string(requirements.Dir) + `"] button.update`)
		b.waitFor("the update's message", `return document.querySelector("#status a") !== null && document.getElementById("status").className === "ok"`)
		if got := b.text("#status"); !strings.Contains(got, "Update of "+string(requirements.Dir)+" asked for: the next launch of "+string(requirements.Dir)+" updates it") {
			t.Errorf("status = %q", got)
		}
		var href string
		b.js(&href, `return document.querySelector("#status a").href`)
		if want := w.hub.BinderURL + "v2/gh/binder-examples/requirements/HEAD"; href != want {
			t.Errorf("the status's link goes to %s, want the latest commit %s", href, want)
		}
		want := []projects.Queued{{Dir: requirements.Dir, QueuedAt: testNow}}
		if diff := cmp.Diff(want, w.registryOf(t, "claim-bitnik").Updates); diff != "" {
			t.Errorf("update queue (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete asks for confirmation naming the folder; dismissing it keeps the project", func(t *testing.T) {
		b.click(`tr[data-folder="` + string(conda.Dir) + `"] button.delete`)
		question := b.alertText()
		for _, want := range []string{`Delete the project "` + string(conda.Dir) + `"?`, "The folder " + string(conda.Dir) + " and all its files are deleted the next time your server starts."} {
			if !strings.Contains(question, want) {
				t.Errorf("confirmation %q does not say %q", question, want)
			}
		}
		b.dismissAlert()
		var present bool
		b.js(&present, `return document.querySelector('tr[data-folder="`+string(conda.Dir)+`"]') !== null`)
		if !present {
			t.Error("the row went although the deletion was not confirmed")
		}
		if got := w.registryOf(t, "claim-bitnik"); len(got.Deletions) != 0 {
			t.Errorf("something was queued: %+v", got.Deletions)
		}
	})

	t.Run("Delete, confirmed, removes the row and queues the folder on the claim", func(t *testing.T) {
		b.click(`tr[data-folder="` + string(requirements.Dir) + `"] button.delete`)
		question := b.alertText()
		if !strings.Contains(question, string(requirements.Dir)) || !strings.Contains(question, "all its files are deleted") {
			t.Errorf("confirmation %q does not name the folder and what is lost", question)
		}
		b.acceptAlert()
		b.waitFor("the row to go", `return document.querySelector('tr[data-folder="`+string(requirements.Dir)+`"]') === null`)
		if got := b.text("#status"); !strings.Contains(got, "Deleted "+string(requirements.Dir)) {
			t.Errorf("status reads %q", got)
		}
		want := projects.Registry{Projects: []projects.Project{conda, gitlab, hostile, scriptLink},
			Deletions: []projects.Queued{{Dir: requirements.Dir, QueuedAt: testNow}}, Trash: deletedNow(requirements)}
		if diff := cmp.Diff(want, w.registryOf(t, "claim-bitnik")); diff != "" {
			t.Errorf("registry on claim-bitnik (-want +got):\n%s", diff)
		}
		b.screenshot("03-after-delete")
	})

	t.Run("Delete while the server runs says so in words and links to the hub's home page", func(t *testing.T) {
		if err := w.hub.StartServer("bitnik"); err != nil {
			t.Fatal(err)
		}
		defer w.hub.StopServer("bitnik")
		b.click(`tr[data-folder="` + string(gitlab.Dir) + `"] button.delete`)
		b.acceptAlert()
		b.waitFor("the refusal", `return document.getElementById("status").className === "error"`)
		if got := b.text("#status"); !strings.Contains(got, string(gitlab.Dir)+" was not deleted: your server is running. Stop it on the hub's home page, then delete the project.") {
			t.Errorf("status reads %q", got)
		}
		var link string
		b.js(&link, `return document.querySelector("#status a").href`)
		if want := w.origin + w.hub.BaseURL + "hub/home"; link != want {
			t.Errorf("the status links to %s, want the hub's home page %s", link, want)
		}
		var present bool
		b.js(&present, `return document.querySelector('tr[data-folder="`+string(gitlab.Dir)+`"]') !== null`)
		if !present {
			t.Error("the row went although the deletion was refused")
		}
		b.screenshot("04-server-running")
	})

	t.Run("Launch in the table continues the project: BinderHub's launch URL at the recorded commit", func(t *testing.T) {
		b.click(`tr[data-folder="` + string(conda.Dir) + `"] a.launch`)
		want := w.hub.BinderURL + "v2/gh/binder-examples/conda/" + conda.Commit
		b.waitFor("BinderHub's page", `return document.location.href === arguments[0]`, want)
		if got := b.text("body"); !strings.Contains(got, "/services/binder/v2/gh/binder-examples/conda/"+conda.Commit) {
			t.Errorf("BinderHub stand-in got %q", got)
		}
		b.screenshot("05-launch")
		b.navigate(page)
		b.waitFor("the projects page", projectsPage)
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
		b.screenshot("06-launch-form")
		b.click("#launch-button")
		b.waitFor("BinderHub's page", `return document.location.pathname.startsWith(arguments[0])`, w.hub.BaseURL+"services/binder/")
		if got := b.currentURL(); got != want {
			t.Errorf("the form went to %s, want %s", got, want)
		}
		if got := b.text("body"); !strings.Contains(got, "/services/binder/v2/gl/gesis%2Fnotebooks%2Fanalysis/v1.0") {
			t.Errorf("BinderHub stand-in got %q", got)
		}
	})

	t.Run("logging out of the hub ends the service's session", func(t *testing.T) {
		b.navigate(page)
		b.waitFor("the projects page", projectsPage)
		b.click("#logout")
		b.waitFor("the hub's page after the logout", loginPage)
		b.navigate(page)
		b.waitFor("the hub's login page instead of the projects page", loginPage)
		if got := b.currentURL(); !strings.Contains(got, "/hub/login") {
			t.Errorf("after the hub's logout the projects page leads to %s, want the hub's login page", got)
		}
		b.screenshot("07-after-hub-logout")
	})
}

// TestTheProjectsOnTheHubsHomePage: with service/hubtemplates/home.html in the hub's template_paths
// (docs/projects-service.md), the hub's own home page shows the projects and the launch form in a frame
// below its content; the frame logs in through the OAuth flow by itself, and Launch takes the whole
// window to BinderHub.
func TestTheProjectsOnTheHubsHomePage(t *testing.T) {
	w := newWorld(t, fixtureObjects(t)...)
	b := startBrowser(t)
	b.navigate(w.origin + w.hub.BaseURL + "hub/home")
	b.waitFor("the hub's login page", `return document.getElementById("username_input") !== null`)
	b.typeInto("#username_input", "bitnik")
	b.typeInto("#password_input", w.hub.Password)
	b.click("#login_submit")
	b.waitFor("the hub's home page with the projects frame", `return document.getElementById("binder-projects") !== null`)
	if got := b.currentURL(); !strings.HasSuffix(got, w.hub.BaseURL+"hub/home") {
		t.Errorf("the browser is at %s, want the hub's home page", got)
	}
	var hubOwn bool
	b.js(&hubOwn, `return document.getElementById("start") !== null || document.querySelector("a[href$='/spawn']") !== null`)
	if !hubOwn {
		t.Error("the hub's own home page content (its start button) is gone")
	}
	b.enterFrame("#binder-projects")
	b.waitFor("the projects in the frame", `return document.querySelectorAll("#projects tbody tr").length > 0`)
	var frame struct {
		Rows int  `json:"rows"`
		Nav  bool `json:"nav"`
		Form bool `json:"form"`
	}
	b.js(&frame, `return {rows: document.querySelectorAll("#projects tbody tr").length, nav: document.querySelector("nav.hub") !== null,
		form: document.getElementById("launch") !== null}`)
	if frame.Rows != 5 || frame.Nav || !frame.Form {
		t.Errorf("the frame = %+v, want bitnik's 5 projects and the launch form, without a second navigation bar", frame)
	}
	b.leaveFrames()
	b.screenshot("hub-home")
	b.enterFrame("#binder-projects")
	b.click(`tr[data-folder="` + string(requirements.Dir) + `"] a.launch`)
	b.leaveFrames()
	want := w.hub.BinderURL + "v2/gh/binder-examples/requirements/" + requirements.Commit
	b.waitFor("BinderHub's page in the whole window", `return document.location.href === arguments[0]`, want)
}

// logInToThePage opens the projects page, which sends the browser to the hub's login page, and logs in
// there as user: the browser ends on the projects page.
func (b *wd) logInToThePage(w *world, user string) {
	b.t.Helper()
	b.navigate(w.origin + w.prefix)
	b.waitFor("the hub's login page", `return document.getElementById("username_input") !== null`)
	b.typeInto("#username_input", user)
	b.typeInto("#password_input", w.hub.Password)
	b.click("#login_submit")
	b.waitFor("the projects page", `return document.title === "Your projects"`)
}

// navBar is a page's navigation bar as a user meets it: its links (a menu with its entries), the
// user's name, Logout, and how the hub's stylesheet draws it. The hub's own pages and the projects
// page are described alike, so that they can be compared.
type navBar struct {
	Classes string   `json:"classes"`
	Logo    string   `json:"logo"`
	Items   []string `json:"items"`
	User    string   `json:"user"`
	Logout  string   `json:"logout"`
	Style   []string `json:"style"`
}

// navBarJS describes the page's nav.navbar (JupyterHub 3's page.html).
const navBarJS = `const nav = document.querySelector("nav.navbar");
const left = nav.querySelector("#thenavbar > ul.nav.navbar-nav:not(.navbar-right)");
const logo = nav.querySelector("#jupyterhub-logo a");
const logout = nav.querySelector("#logout");
const text = e => e.textContent.replace(/\s+/g, " ").trim();
const item = li => li.classList.contains("dropdown")
	? text(li.querySelector(".dropdown-toggle")) + " menu: " + Array.from(li.querySelectorAll(".dropdown-menu a.dropdown-item")).map(a => text(a) + " " + a.href).join(", ")
	: text(li.querySelector("a")) + " " + li.querySelector("a").href;
const css = (e, ...props) => props.map(p => e.tagName.toLowerCase() + "." + e.className + " " + p + ": " + getComputedStyle(e)[p]);
return {
	classes: nav.className,
	logo: logo.href + " " + logo.querySelector("img").src + " " + logo.querySelector("img").className,
	items: left ? Array.from(left.children).map(item) : [],
	user: text(nav.querySelector("#login_widget .navbar-text")),
	logout: text(logout) + " " + logout.href + " " + logout.className,
	style: [].concat(
		css(nav, "backgroundColor", "borderBottomColor", "minHeight", "height", "fontFamily", "fontSize"),
		css(nav.querySelector("#jupyterhub-logo img"), "height"),
		left ? css(left.querySelector("a"), "color", "paddingTop", "paddingLeft", "fontSize") : [],
		css(nav.querySelector("#login_widget .navbar-text"), "color", "marginTop"),
		css(logout, "backgroundColor", "borderTopColor", "fontSize", "marginTop", "height")),
};`

// navBar describes the current page's navigation bar.
func (b *wd) navBar() navBar {
	b.t.Helper()
	var nav navBar
	b.js(&nav, navBarJS)
	return nav
}

// hubNavBar describes the navigation bar of the hub's home page, and comes back to the projects page.
func (b *wd) hubNavBar(w *world) navBar {
	b.t.Helper()
	b.navigate(w.origin + w.hub.BaseURL + "hub/home")
	b.waitFor("the hub's home page", `return document.querySelector("nav.navbar #logout") !== null`)
	nav := b.navBar()
	b.navigate(w.origin + w.prefix)
	b.waitFor("the projects page", `return document.title === "Your projects"`)
	return nav
}

// withoutServices is nav without its Services menu.
func withoutServices(nav navBar) navBar {
	nav.Items = slices.DeleteFunc(slices.Clone(nav.Items), func(s string) bool { return strings.HasPrefix(s, "Services menu: ") })
	return nav
}

// TestTheNavigationBarIsTheHubs compares the projects page's navigation bar with the one the real hub
// shows the same user on its home page: the same links (Admin for a hub admin only), the user's name,
// Logout, drawn alike by the hub's stylesheet; and the Services menu when the service's token may list
// the hub's services, which opens like the hub's.
func TestTheNavigationBarIsTheHubs(t *testing.T) {
	t.Run("Admin is there for a hub admin, as on the hub's pages; the Services menu is not, as the documented role may not list services", func(t *testing.T) {
		w := newWorld(t, fixtureObjects(t)...)
		b := startBrowser(t)
		b.logInToThePage(w, hubAdmin)
		hub, ours := b.hubNavBar(w), b.navBar()
		if diff := cmp.Diff(withoutServices(hub), ours); diff != "" {
			t.Errorf("navigation bar (-the hub's, without Services +the projects page's):\n%s", diff)
		}
		want := []string{"Home " + w.origin + "/hub/home", "Token " + w.origin + "/hub/token", "Admin " + w.origin + "/hub/admin"}
		if diff := cmp.Diff(want, ours.Items); diff != "" || ours.User != hubAdmin {
			t.Errorf("a hub admin's items (-want +got):\n%s\nuser %q", diff, ours.User)
		}
		if !slices.ContainsFunc(hub.Items, func(s string) bool { return strings.HasPrefix(s, "Services menu: ") }) {
			t.Errorf("the hub shows no Services menu (%q): the comparison proves less than it should", hub.Items)
		}
		b.screenshot("hub-admin")
	})

	t.Run("with list:services and read:services, the Services menu is the hub's and opens like it", func(t *testing.T) {
		w := newWorldOn(t, hubKind{base: "/", serviceScopes: "list:services,read:services"}, fixtureObjects(t)...)
		b := startBrowser(t)
		b.logInToThePage(w, "bitnik")
		hub, ours := b.hubNavBar(w), b.navBar()
		if diff := cmp.Diff(hub, ours); diff != "" {
			t.Errorf("navigation bar (-the hub's +the projects page's):\n%s", diff)
		}
		want := []string{"Home " + w.origin + "/hub/home", "Token " + w.origin + "/hub/token",
			"Services menu: projects " + w.origin + "/services/projects/, binder " + w.origin + "/services/binder/"}
		if diff := cmp.Diff(want, ours.Items); diff != "" {
			t.Errorf("a plain user's items (-want +got):\n%s", diff)
		}
		var menu struct {
			Shown, Open bool
		}
		b.js(&menu, `return {Shown: document.querySelector("li.dropdown .dropdown-menu").offsetParent !== null, Open: false}`)
		if menu.Shown {
			t.Error("the Services menu is open before it is clicked")
		}
		b.click("li.dropdown .dropdown-toggle")
		b.js(&menu, `const li = document.querySelector("li.dropdown");
			return {Shown: li.querySelector(".dropdown-menu").offsetParent !== null, Open: li.querySelector(".dropdown-toggle").getAttribute("aria-expanded") === "true"}`)
		if !menu.Shown || !menu.Open {
			t.Errorf("after a click the Services menu = %+v, want it shown and expanded", menu)
		}
		b.screenshot("services-menu")
		b.click("h1")
		b.js(&menu, `return {Shown: document.querySelector("li.dropdown .dropdown-menu").offsetParent !== null, Open: false}`)
		if menu.Shown {
			t.Error("a click elsewhere leaves the Services menu open")
		}
		b.click(`li.dropdown .dropdown-toggle`)
		b.click(`.dropdown-menu a[href$="/services/binder/"]`)
		b.waitFor("the BinderHub stand-in", `return document.location.pathname === arguments[0]`, w.hub.BaseURL+"services/binder/")
	})
}

// TestAnUnreadableEntryInChromium: carol's registry has an entry that cannot be read; the page lists
// the other two and says so, instead of saying she has no projects.
func TestAnUnreadableEntryInChromium(t *testing.T) {
	w := newWorld(t, append(fixtureObjects(t), carolsClaim(t))...)
	b := startBrowser(t)
	b.logInToThePage(w, "carol")
	var page struct {
		Rows    []string `json:"rows"`
		Note    string   `json:"note"`
		Visible bool     `json:"visible"`
		Empty   bool     `json:"empty"`
	}
	b.js(&page, `const note = document.getElementById("unreadable");
		return {rows: Array.from(document.querySelectorAll("#projects tbody tr")).map(r => r.dataset.folder),
			note: note ? note.textContent : "", visible: note !== null && note.offsetParent !== null,
			empty: !document.getElementById("empty").hidden}`)
	if diff := cmp.Diff([]string{"gh_carol_thesis", "gh_carol_notes"}, page.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(page.Note, "One entry of your projects could not be read, so it is not listed.") || !page.Visible {
		t.Errorf("the page's note = %q (shown: %v), want it to say that one entry could not be read", page.Note, page.Visible)
	}
	if page.Empty {
		t.Error("the page says there are no projects")
	}
	b.screenshot("unreadable-entry")
}

// TestStorageAndRecentlyDeletedInChromium drives the page of a user whose storage is 93 % full, with
// projects that were measured, one expiring soon, and two recently deleted ones (one in the trash, one
// still queued), with 7 trash days: the storage bar and its warning, the sizes, the expiry notice,
// Restore and Delete forever (the claim's annotations after each click), and a deletion that lands in
// Recently deleted. Its first screenshot is docs/projects-page.png.
func TestStorageAndRecentlyDeletedInChromium(t *testing.T) {
	w := newWorldConfigured(t, hubKind{base: "/"}, withTrashAndExpiry, storageObjects(t, storageRegistry)...)
	b := startBrowser(t)
	b.logInToThePage(w, "bitnik")
	projectRow := func(dir contract.ProjectDir) string { return `#projects tr[data-folder="` + string(dir) + `"]` }
	trashRow := func(dir contract.ProjectDir) string { return `#trash tr[data-folder="` + string(dir) + `"]` }
	queue := func(key string) string { return w.annotationsOf(t, "claim-bitnik")[key] }
	juliaQueued := `[{"dir":"gh_binder-examples_julia-python","queuedAt":"2026-05-01T15:30:00Z"}]`

	t.Run("the storage bar says how full the storage is and on which basis, and warns from 90 %, naming the largest folders", func(t *testing.T) {
		if got := b.text("#storage-used"); got != "9.3 GiB of 10.0 GiB used (93 %)" {
			t.Errorf("the storage reads %q", got)
		}
		var meter struct {
			Value, Max float64
			Shown      bool
		}
		b.js(&meter, `const m = document.getElementById("storage-meter"); return {Value: m.value, Max: m.max, Shown: m.offsetWidth > 300}`)
		if meter.Value != float64(fullUsage.Size-fullUsage.Free) || meter.Max != float64(fullUsage.Size) || !meter.Shown {
			t.Errorf("the meter = %+v, want the used bytes of the size, shown as a bar", meter)
		}
		if got, want := b.text("#storage-basis"), "The filesystem of your storage. Measured 4 May 2026, 09:00 UTC, at a start of your server."; got != want {
			t.Errorf("the basis reads %q, want %q", got, want)
		}
		if got, want := b.text("#storage-warning"), "Your storage is 93 % full: "+fullAdvice; got != want {
			t.Errorf("the warning reads\n%q, want\n%q", got, want)
		}
	})

	t.Run("each project shows its size, with when it was measured on hover; – when it was never measured", func(t *testing.T) {
		var sizes map[string]string
		b.js(&sizes, `const out = {};
			document.querySelectorAll("#projects tbody tr").forEach(r => { const s = r.querySelector("td.size span"); out[r.dataset.folder] = s.textContent + " | " + s.title; });
			return out`)
		hover := " | measured 4 May 2026, 09:00 UTC"
		want := map[string]string{string(conda.Dir): "3.1 GiB" + hover, string(gitlab.Dir): "2.0 GiB" + hover, string(requirements.Dir): "1.2 GiB" + hover,
			string(scriptLink.Dir): "40.0 KiB" + hover, string(hostile.Dir): "– | not measured yet: each start of a server measures the projects it has time for"}
		if diff := cmp.Diff(want, sizes); diff != "" {
			t.Errorf("sizes (-want +got):\n%s", diff)
		}
	})

	t.Run("a project expiring within 14 days says when it is removed unless launched; the others say nothing", func(t *testing.T) {
		var notes map[string]string
		b.js(&notes, `const out = {};
			document.querySelectorAll("#projects small.expires").forEach(s => { out[s.closest("tr").dataset.folder] = s.textContent + " | " + s.title; });
			return out`)
		want := map[string]string{string(scriptLink.Dir): "removed on 12 May 2026 unless you launch it | A project not launched for 100 days is deleted"}
		if diff := cmp.Diff(want, notes); diff != "" {
			t.Errorf("expiry notices (-want +got):\n%s", diff)
		}
	})

	t.Run("Recently deleted lists the trash, most recently deleted first, with when each goes", func(t *testing.T) {
		var rows [][]string
		b.js(&rows, `return Array.from(document.querySelectorAll("#trash tbody tr")).map(r =>
			Array.from(r.cells).map(c => c.textContent.replace(/\s+/g, " ").trim()))`)
		want := [][]string{
			{string(notes.Dir), notes.RepoURL, "–", "4 May 2026, 09:30 UTC", "goes to the trash at your next server start, for 7 days", "Restore Delete forever"},
			{string(julia.Dir), julia.RepoURL, "2.5 GiB", "1 May 2026, 15:30 UTC", "goes for good on 8 May 2026", "Restore Delete forever"},
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("recently deleted (-want +got):\n%s", diff)
		}
	})
	b.screenshotPage("01-storage-and-trash")

	t.Run("Restore of a project in the trash queues the restore on the claim; the row says it comes back at the next start", func(t *testing.T) {
		b.click(trashRow(julia.Dir) + " button.restore")
		b.waitFor("the row to say so", `const r = document.querySelector(arguments[0]);
			return r !== null && r.querySelector("td.next").textContent.trim() === "restored at your next server start"`, trashRow(julia.Dir))
		if got := b.text("#trash-status"); got != "gh_binder-examples_julia-python is restored at your next server start, beside gh_binder-examples_julia-python as gh_binder-examples_julia-python-restored-20260501-153000 if that name is taken again by then." {
			t.Errorf("status reads %q", got)
		}
		if got := queue(contract.AnnotationClaimRestoreQueue); got != juliaQueued {
			t.Errorf("%s = %q, want %s", contract.AnnotationClaimRestoreQueue, got, juliaQueued)
		}
		var buttons []string
		b.js(&buttons, `return Array.from(document.querySelectorAll(arguments[0] + " button")).map(b => b.textContent)`, trashRow(julia.Dir))
		if diff := cmp.Diff([]string{"Delete forever"}, buttons); diff != "" {
			t.Errorf("buttons (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete forever asks for confirmation: dismissed, nothing changes; confirmed, the purge is queued and the restore dropped", func(t *testing.T) {
		b.click(trashRow(julia.Dir) + " button.purge")
		question := b.alertText()
		for _, want := range []string{`Delete "gh_binder-examples_julia-python" forever?`, "all its files are deleted for good the next time your server starts. This cannot be undone."} {
			if !strings.Contains(question, want) {
				t.Errorf("confirmation %q does not say %q", question, want)
			}
		}
		b.dismissAlert()
		if got := queue(contract.AnnotationClaimPurgeQueue); got != "" {
			t.Errorf("dismissed, yet %s = %s", contract.AnnotationClaimPurgeQueue, got)
		}
		b.click(trashRow(julia.Dir) + " button.purge")
		b.acceptAlert()
		b.waitFor("the row to say so", `const r = document.querySelector(arguments[0]);
			return r !== null && r.querySelector("td.next").textContent.trim() === "deleted for good at your next server start"`, trashRow(julia.Dir))
		if got := b.text("#trash-status"); got != "gh_binder-examples_julia-python is deleted for good at your next server start." {
			t.Errorf("status reads %q", got)
		}
		if got, restores := queue(contract.AnnotationClaimPurgeQueue), queue(contract.AnnotationClaimRestoreQueue); got != juliaQueued || restores != "" {
			t.Errorf("%s = %q, want %s; %s = %q, want none", contract.AnnotationClaimPurgeQueue, got, juliaQueued, contract.AnnotationClaimRestoreQueue, restores)
		}
	})

	t.Run("Restore of a deletion still queued takes it back: the project is listed again, and its deletion leaves the claim", func(t *testing.T) {
		b.click(trashRow(notes.Dir) + " button.restore")
		b.waitFor("the project back in the list", `return document.querySelector(arguments[0]) !== null && document.querySelector(arguments[1]) === null`,
			projectRow(notes.Dir), trashRow(notes.Dir))
		if got := b.text("#trash-status"); !strings.HasPrefix(got, "gh_bitnik_old-notes is back: its deletion had not happened yet") {
			t.Errorf("status reads %q", got)
		}
		if got := queue(contract.AnnotationClaimDeleteQueue); got != "" {
			t.Errorf("%s = %s, want none", contract.AnnotationClaimDeleteQueue, got)
		}
		r := w.registryOf(t, "claim-bitnik")
		if r.Find(notes.Dir) < 0 || len(r.Trash) != 1 || r.Trash[0].Dir != julia.Dir {
			t.Errorf("registry = %+v, want gh_bitnik_old-notes recorded again and only julia in the trash", r)
		}
	})

	t.Run("Delete says the project goes to Recently deleted, where it is listed at once, pending", func(t *testing.T) {
		b.click(projectRow(conda.Dir) + " button.delete")
		question := b.alertText()
		if want := "The folder gh_binder-examples_conda and all its files go to Recently deleted the next time your server starts. You can restore them there for 7 days; then they are deleted for good."; !strings.Contains(question, want) {
			t.Errorf("confirmation %q does not say %q", question, want)
		}
		b.acceptAlert()
		b.waitFor("the project in Recently deleted", `return document.querySelector(arguments[0]) === null && document.querySelector(arguments[1]) !== null`,
			projectRow(conda.Dir), trashRow(conda.Dir))
		if got, want := b.text("#status"), "Deleted gh_binder-examples_conda. It goes to Recently deleted the next time your server starts; restore it there within 7 days."; got != want {
			t.Errorf("status reads %q, want %q", got, want)
		}
		if got := b.text(trashRow(conda.Dir) + " td.next"); got != "goes to the trash at your next server start, for 7 days" {
			t.Errorf("the new row says %q", got)
		}
		if got, want := queue(contract.AnnotationClaimDeleteQueue), `[{"dir":"gh_binder-examples_conda","queuedAt":"2026-05-04T10:00:00Z"}]`; got != want {
			t.Errorf("%s = %s, want %s", contract.AnnotationClaimDeleteQueue, got, want)
		}
		r := w.registryOf(t, "claim-bitnik")
		if i := slices.IndexFunc(r.Trash, func(t projects.Trashed) bool { return t.Dir == conda.Dir }); i < 0 || r.Trash[i].InTrash || !r.Trash[i].DeletedAt.Equal(testNow) {
			t.Errorf("trash = %+v, want conda's record pending, deleted at %v", r.Trash, testNow)
		}
		b.screenshotPage("02-after-restore-and-delete")
	})
}
