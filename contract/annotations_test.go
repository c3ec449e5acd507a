package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// annotationTable is the page that holds the annotation table.
const annotationTable = "../docs/annotations.md"

// TestREADMEListsEveryAnnotation keeps the annotation table of the documentation
// (docs/annotations.md, which the README links) and annotations.go in sync: every binder-projects.io
// key declared here has a row, and every row names a declared key.
func TestREADMEListsEveryAnnotation(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "annotations.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(f, func(n ast.Node) bool {
		bin, ok := n.(*ast.BinaryExpr) // Prefix + "name"
		if !ok {
			return true
		}
		if id, ok := bin.X.(*ast.Ident); ok && id.Name == "Prefix" {
			if lit, ok := bin.Y.(*ast.BasicLit); ok {
				s, _ := strconv.Unquote(lit.Value)
				declared = append(declared, Prefix+s)
			}
		}
		return true
	})
	if len(declared) < 6 {
		t.Fatalf("found only %d annotation constants in annotations.go: %v", len(declared), declared)
	}
	table, err := os.ReadFile(annotationTable)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(binder-projects\\.io/[^`]+)` \\|").FindAllStringSubmatch(string(table), -1) {
		rows = append(rows, m[1])
	}
	slices.Sort(declared)
	slices.Sort(rows)
	if strings.Join(declared, "\n") != strings.Join(rows, "\n") {
		t.Errorf("the annotation table of %s and annotations.go differ:\ndeclared: %v\ntable:    %v", annotationTable, declared, rows)
	}
}
