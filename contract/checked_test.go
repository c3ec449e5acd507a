package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestOnlyTheContractMakesAProjectDirFromAString: a folder name is checked once, where it enters, and
// every later layer takes the checked type. A conversion contract.ProjectDir(s) outside this package
// would make an unchecked one, so the program's code (tests aside, which build known-good names)
// never converts.
func TestOnlyTheContractMakesAProjectDirFromAString(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "contract", "e2e", "testdata", "node_modules", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ProjectDir" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "contract" {
					t.Errorf("%s: contract.ProjectDir(...) makes an unchecked folder name: use contract.ParseProjectDir", fset.Position(call.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
