package server

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/conversa/conversa/core/media"
)

const uploadsPath = "/api/v1/uploads"

// Uploads have limits of their own: the largest file plus room for the
// multipart framing, and the time a slow connection needs to send it.
const (
	uploadOverhead    = 1 << 20
	uploadReadTimeout = 10 * time.Minute
	// uploadDrainFactor: a file up to this many times the limit is read
	// to its end before it is refused, so that the client (a browser
	// mid-upload) gets the 413 answer rather than a reset connection.
	// Anything bigger is refused from its Content-Length at once.
	uploadDrainFactor = 4
	uploadAuthTimeout = 2 * time.Second
)

// requestConfig gives a signed-in caller's upload its own body limit and
// read timeout before the body is read; every other request keeps
// [server] body_limit_kb. Who may upload is decided again, fully, by the
// route's middleware: this only decides how much is read.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if s.o.Media == nil || !h.IsPost() || string(uriPath(h.RequestURI())) != uploadsPath ||
		!strings.HasPrefix(string(h.ContentType()), fiber.MIMEMultipartForm) || s.o.Agents == nil {
		return fasthttp.RequestConfig{}
	}
	token := ""
	if auth := string(h.Peek(fiber.HeaderAuthorization)); strings.HasPrefix(auth, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(auth, "Bearer "))
	} else {
		token = string(h.Cookie(SessionCookie))
	}
	ctx, cancel := context.WithTimeout(context.Background(), uploadAuthTimeout)
	defer cancel()
	if _, _, err := s.o.Agents.Authenticate(ctx, token); err != nil {
		return fasthttp.RequestConfig{}
	}
	limit := s.o.Media.MaxBytes()*uploadDrainFactor + uploadOverhead
	return fasthttp.RequestConfig{MaxRequestBodySize: int(limit), ReadTimeout: uploadReadTimeout}
}

func uriPath(uri []byte) []byte {
	if i := strings.IndexByte(string(uri), '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// upload keeps a file an agent attaches: POST /api/v1/uploads, multipart,
// field "file". 201 {url, mime_type, name, size}.
func (s *Server) upload(c *fiber.Ctx) error {
	if s.o.Media == nil {
		return errorf(fiber.StatusServiceUnavailable, "unavailable", "uploads are not configured on this server")
	}
	max := s.o.Media.MaxBytes()
	tooLarge := s.tooLarge(c)
	fh, err := c.FormFile("file")
	if err != nil {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "file",
			Message: `no file: send multipart/form-data with the file in the field "file"`}
	}
	if fh.Size > max {
		return tooLarge
	}
	if fh.Size == 0 {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "file", Message: "the file is empty"}
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	kept, err := s.o.Media.Save(f, fh.Header.Get(fiber.HeaderContentType), fh.Filename)
	var te *media.TypeError
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return tooLarge
	case errors.Is(err, media.ErrEmpty):
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "file", Message: "the file is empty"}
	case errors.As(err, &te):
		return &apiError{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_type", Field: "file",
			Message: fmt.Sprintf("this kind of file (%s) cannot be sent to Instagram; send an image (JPEG, PNG, GIF, WebP), "+
				"audio (MP3, M4A, AAC, WAV, OGG), an MP4 video, a PDF, an office document or plain text", te.Detected)}
	case err != nil:
		return err
	}
	s.log.Info("file uploaded", "agent", s.caller(c).agent.ID, "mime_type", kept.MIMEType, "size", kept.Size)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"url": s.o.PublicURL + "/media/" + kept.Path(), "mime_type": kept.MIMEType, "name": kept.Name, "size": kept.Size,
	})
}

// tooLarge is the 413 of a request over its body limit: for an upload, the
// file limit; for anything else, [server] body_limit_kb.
func (s *Server) tooLarge(c *fiber.Ctx) *apiError {
	if s.o.Media != nil && c.Path() == uploadsPath {
		return &apiError{Status: fiber.StatusRequestEntityTooLarge, Code: "too_large", Field: "file",
			Message: fmt.Sprintf("the file is larger than this server accepts (%s at most)", megabytes(s.o.Media.MaxBytes()))}
	}
	return errorf(fiber.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("the request body is larger than this server accepts (%d KB at most)", s.o.BodyLimitKB))
}

func megabytes(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MB"
}

// mediaNotFound answers any other path under /media: no listing, and never
// the console's page.
func (s *Server) mediaNotFound(c *fiber.Ctx) error {
	return c.Status(fiber.StatusNotFound).SendString("not found\n")
}

// serveMedia serves an uploaded file without sign-in (providers fetch it):
// GET /media/{token}/{name}. The token is the secret; anything that is not
// exactly a kept file's token and name is 404.
func (s *Server) serveMedia(c *fiber.Ctx) error {
	notFound := func() error { return s.mediaNotFound(c) }
	if s.o.Media == nil {
		return notFound()
	}
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil {
		return notFound()
	}
	f, data, err := s.o.Media.Get(c.Params("token"), name)
	if errors.Is(err, os.ErrNotExist) {
		return notFound()
	}
	if err != nil {
		return err
	}
	ct := f.MIMEType
	if strings.HasPrefix(ct, "text/") {
		ct += "; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// A token's file never changes.
	c.Set(fiber.HeaderCacheControl, "public, max-age=604800, immutable")
	disposition := "attachment"
	if media.Kind(f.MIMEType) == "image" {
		disposition = "inline"
	}
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	return c.SendStream(data, int(f.Size))
}
