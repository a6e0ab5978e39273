package server

import (
	"bytes"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/reports"
	"github.com/conversa/conversa/core/store"
)

// report answers GET /api/v1/reports?from=&to=[&tz=][&squad=][&agent=]
// [&format=csv] (admins): the conversations started in the range and their
// times, as JSON or as a CSV download.
func (s *Server) report(c *fiber.Ctx) error {
	format := c.Query("format", "json")
	if format != "json" && format != "csv" {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "format", Message: `format must be "json" or "csv"`}
	}
	r, err := reports.ParseRange(c.Query("from"), c.Query("to"), c.Query("tz"), s.o.Store.Now())
	var fe *reports.FieldError
	if errors.As(err, &fe) {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: fe.Field, Message: fe.Message}
	}
	if err != nil {
		return err
	}
	rows, err := s.o.Store.Conversations().Report(c.UserContext(), store.ReportFilter{
		From: r.Start(), To: r.End(), Squad: c.Query("squad"), Agent: c.Query("agent"),
	})
	if err != nil {
		return err
	}
	rep := reports.Build(r, rows)
	if format == "json" {
		return c.JSON(rep)
	}
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+rep.Filename()+`"`)
	return c.Send(b.Bytes())
}
