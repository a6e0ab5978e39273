package server

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openapiDoc describes every route under /api/v1 (CONTRACT §5). It is
// written by hand, next to the handlers: TestOpenAPIDescribesEveryRoute
// fails for a route it lacks, and the end-to-end tests check every answer
// they get against it.
//
//go:embed openapi.json
var openapiDoc []byte

// OpenAPI is the document GET /api/v1/openapi.json serves.
func OpenAPI() []byte { return openapiDoc }

// openapi needs no sign-in: the document describes the API, no data and no
// secret.
func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(openapiDoc)
}
