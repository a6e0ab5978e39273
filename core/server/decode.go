package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// bodyRules say how a request body is read.
type bodyRules struct {
	// shape is the body expected, as error messages show it:
	// `{"login", "password"}`.
	shape string
	// strict refuses fields the endpoint does not know.
	strict bool
	// optional: an empty body means every field absent.
	optional bool
}

// decodeJSON reads the request's JSON body into v. Every problem is a 4xx
// in our own words, naming the field when one is to blame; the decoder's
// text never reaches the client. A body declared as anything but JSON is
// 415: a form post from another site is never taken for an API call.
func decodeJSON(c *fiber.Ctx, v any, r bodyRules) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !isJSONType(ct) {
		return errorf(fiber.StatusUnsupportedMediaType, "unsupported_media_type",
			"the body must be JSON (Content-Type: application/json)")
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		if r.optional {
			return nil
		}
		return errorf(fiber.StatusBadRequest, "bad_request", "the body must be JSON "+r.shape)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if r.strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return errorf(fiber.StatusBadRequest, "bad_request", "the body must be one JSON value "+r.shape)
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(fiber.StatusBadRequest, "bad_request", "the body is not valid JSON; it must be "+r.shape)
	case errors.As(err, &typ) && typ.Field != "":
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: typ.Field,
			Message: typ.Field + " must be " + jsonKind(typ.Type)}
	case errors.As(err, &typ):
		return errorf(fiber.StatusBadRequest, "bad_request", "the body must be "+r.shape)
	}
	// The one decoder error without a type of its own: `json: unknown
	// field "nme"`. Only the quoted name is taken from it.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if field, uerr := strconv.Unquote(name); uerr == nil {
			if len(field) > 64 {
				field = field[:64]
			}
			return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: field,
				Message: "unknown field " + strconv.Quote(field) + "; the body must be " + r.shape}
		}
	}
	return errorf(fiber.StatusBadRequest, "bad_request", "the body must be "+r.shape)
}

// isJSONType: application/json, or a +json type.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == fiber.MIMEApplicationJSON || strings.HasSuffix(mt, "+json"))
}

// jsonKind names a Go type as the JSON a client should send for it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}
