package server

import (
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/admin"
)

// consoleCSP keeps the console's pages to their own scripts. Images and
// media may come from anywhere: avatars and story media live on Instagram's
// CDN.
const consoleCSP = "default-src 'self'; img-src 'self' https: data:; media-src 'self' https:; " +
	"connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// console serves the embedded web console: static files under /static/,
// and index.html for every other page path (the console routes itself).
func (s *Server) console(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return fiber.ErrMethodNotAllowed
	}
	ui, err := fs.Sub(admin.UI, "ui")
	if err != nil {
		return err
	}
	p := strings.TrimPrefix(path.Clean(c.Path()), "/")
	if !strings.HasPrefix(p, "static/") {
		p = "index.html"
	}
	b, err := fs.ReadFile(ui, p)
	if err != nil {
		return errorf(fiber.StatusNotFound, "not_found", "not found")
	}
	c.Set("Content-Security-Policy", consoleCSP)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
		c.Set(fiber.HeaderContentType, ct)
	}
	if p == "index.html" {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	} else {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	}
	return c.Send(b)
}
