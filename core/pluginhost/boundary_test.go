package pluginhost

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const protoPackage = "github.com/conversa/conversa/plugins/proto"

// Protobuf types stay at the plugin boundary: this package converts them,
// and only the code that serves plugins (the conversa command, which
// registers the built-ins, and the test plugins in testdata directories)
// builds them. The engine and the server, tests included, see the Go types
// of contract.go.
func TestProtoStaysAtThePluginBoundary(t *testing.T) {
	core, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mayImport := func(rel string) bool {
		return rel == "pluginhost" || rel == "cmd" || strings.HasPrefix(rel, "cmd/")
	}
	// Packages whose tests must not build protobuf messages either: their
	// fakes implement the Go interfaces.
	strict := map[string]bool{"engine": true, "server": true}
	checked := map[string]bool{}
	err = filepath.WalkDir(core, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return fs.SkipDir // test plugins and fixtures: plugins build protobuf
		}
		rel, _ := filepath.Rel(core, path)
		rel = filepath.ToSlash(rel)
		if mayImport(rel) {
			return nil
		}
		pkg, err := build.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			t.Errorf("reading %s: %v", rel, err)
			return nil
		}
		checked[rel] = true
		if slices.Contains(pkg.Imports, protoPackage) {
			t.Errorf("core/%s imports plugins/proto; convert at the boundary (core/pluginhost) instead", rel)
		}
		if strict[rel] && (slices.Contains(pkg.TestImports, protoPackage) || slices.Contains(pkg.XTestImports, protoPackage)) {
			t.Errorf("core/%s's tests import plugins/proto; fake the Go interfaces of core/pluginhost instead", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk must have seen the packages it exists for.
	for rel := range strict {
		if !checked[rel] {
			t.Errorf("core/%s was not checked", rel)
		}
	}
}
