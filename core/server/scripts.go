package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/scripts"
)

// The console's script page: open a hook script, check it while it is
// edited, save it into the scripts dir (the engine's watcher, or the Reload
// here, applies it), and run the case files.

// scriptRoutes adds the script page's endpoints to the admin group.
func (s *Server) scriptRoutes(admin fiber.Router) {
	admin.Get("/scripts/:name", s.getScript)
	admin.Post("/scripts/check", s.checkScript)
	admin.Post("/scripts/test", s.testScripts)
	admin.Put("/scripts/:name", s.saveScript)
}

// scriptName is the {name} of a script endpoint: one of the hooks' files.
func scriptName(name string) (string, error) {
	if !slices.Contains(scripts.Names(), name) {
		return "", &apiError{Status: fiber.StatusNotFound, Code: "not_found", Field: "name",
			Message: fmt.Sprintf("no script %q; the scripts are %s", name, strings.Join(scripts.Names(), ", "))}
	}
	return name, nil
}

func (s *Server) scriptStatus(name string) scripting.Status {
	for _, st := range s.o.Scripts.Statuses() {
		if st.Name == name {
			return st
		}
	}
	return scripting.Status{Name: name}
}

// getScript: GET /api/v1/scripts/{name}: the source that runs (the file, or
// the built-in default when there is none) and its state.
func (s *Server) getScript(c *fiber.Ctx) error {
	name, err := scriptName(c.Params("name"))
	if err != nil {
		return err
	}
	src, fromFile, err := s.scriptSource(name)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"name": name, "source": string(src), "file": fromFile, "status": s.scriptStatus(name)})
}

// scriptSource reads the operator's file, else the built-in default.
func (s *Server) scriptSource(name string) ([]byte, bool, error) {
	if dir := s.o.Scripts.Dir(); dir != "" {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return src, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("reading script %s: %w", name, err)
		}
	}
	src, err := scripts.FS.ReadFile(name)
	return src, false, err
}

type scriptBody struct {
	Name   string  `json:"name"`
	Source *string `json:"source"`
}

// maxScriptBody bounds a script sent for a check or a save, below the
// engine's own limit of a file.
const maxScriptBody = 256 << 10

func (b *scriptBody) source() ([]byte, error) {
	if b.Source == nil {
		return nil, &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "source", Message: "source is required"}
	}
	if len(*b.Source) > maxScriptBody {
		return nil, &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "source",
			Message: fmt.Sprintf("the script is larger than %d KiB", maxScriptBody>>10)}
	}
	return []byte(*b.Source), nil
}

// checkScript: POST /api/v1/scripts/check {name, source} → {problems}: what
// saving it would report, for an editor that checks as the admin types.
func (s *Server) checkScript(c *fiber.Ctx) error {
	var req scriptBody
	if err := decodeJSON(c, &req, bodyRules{shape: `{"name": "routing.lua", "source": "..."}`, strict: true}); err != nil {
		return err
	}
	name, err := scriptName(req.Name)
	if err != nil {
		return err
	}
	src, err := req.source()
	if err != nil {
		return err
	}
	problems, loads, err := scripting.CheckScript(name, src, s.o.Scripts.Timeout())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"problems": problems, "loads": loads})
}

// saveScript: PUT /api/v1/scripts/{name} {source}. A script that would not
// load is refused with its problems (422); otherwise it is written into the
// scripts dir atomically, applied, and the problems of its dry runs, if
// any, come back with its new state.
func (s *Server) saveScript(c *fiber.Ctx) error {
	name, err := scriptName(c.Params("name"))
	if err != nil {
		return err
	}
	var req scriptBody
	if err := decodeJSON(c, &req, bodyRules{shape: `{"source": "..."}`, strict: true}); err != nil {
		return err
	}
	if req.Name != "" && req.Name != name {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "name", Message: "name differs from the script in the path"}
	}
	src, err := req.source()
	if err != nil {
		return err
	}
	problems, loads, err := scripting.CheckScript(name, src, s.o.Scripts.Timeout())
	if err != nil {
		return err
	}
	if !loads {
		return c.Status(fiber.StatusUnprocessableEntity).JSON(fiber.Map{"problems": problems,
			"error": apiError{Code: "invalid", Field: "source", Message: name + " does not load, so it was not saved: " + problemText(problems)}})
	}
	dir := s.o.Scripts.Dir()
	if dir == "" {
		return errorf(fiber.StatusConflict, "conflict", "no scripts directory is configured ([scripts] dir)")
	}
	if err := writeAtomically(dir, name, src); err != nil {
		return fmt.Errorf("saving script %s: %w", name, err)
	}
	s.o.Scripts.Reload()
	sum := sha256.Sum256(src)
	detail := fmt.Sprintf("%d bytes, sha256 %s", len(src), hex.EncodeToString(sum[:6]))
	if err := s.o.Store.Audit().Add(c.UserContext(), s.actor(c).Entry("script.update", name, detail)); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"status": s.scriptStatus(name), "problems": problems})
}

func problemText(ps []scripting.Problem) string {
	if len(ps) == 0 {
		return "unknown problem"
	}
	return fmt.Sprintf("line %d: %s", ps[0].Line, ps[0].Message)
}

// writeAtomically replaces dir/name with data: a temporary file beside it,
// synced, then renamed over it, so the watcher never reads half a script.
func writeAtomically(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, nothing is there
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// testScripts: POST /api/v1/scripts/test: the case files in the scripts
// dir's tests/, or the shipped cases of the defaults when there is none,
// against the scripts running now.
func (s *Server) testScripts(c *fiber.Ctx) error {
	from, fsys := "shipped", scripts.Cases()
	if dir := s.o.Scripts.Dir(); dir != "" {
		tests := filepath.Join(dir, "tests")
		if st, err := os.Stat(tests); err == nil && st.IsDir() {
			from, fsys = "tests", os.DirFS(tests)
		}
	}
	results, err := s.o.Scripts.TestCases(c.UserContext(), fsys)
	if err != nil {
		return fmt.Errorf("running the script cases: %w", err)
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if results == nil {
		results = []scripting.CaseResult{}
	}
	return c.JSON(fiber.Map{"from": from, "results": results, "failed": failed})
}
