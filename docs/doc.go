// Package docs holds no code: it is the documentation (README.md and the pages in this folder), and its
// tests keep that documentation true to the repository:
//
//   - every relative link in README.md and docs/*.md points to a file that exists, and a #anchor into a
//     Markdown file to one of its headings (GitHub's anchor rules);
//   - every `make <target>` that README.md and docs/development.md name is a target of the Makefile;
//   - every page in docs/ is linked from the README;
//   - the README stays short (readmeWordBudget words): the rest belongs on these pages.
//
// The annotation table of annotations.md is checked against contract/annotations.go by that package's
// TestREADMEListsEveryAnnotation.
package docs
