package bench

import (
	"fmt"
	"net"

	"github.com/gofiber/fiber/v2"
)

// Baseline is the bare HTTP handler a run is compared with: Fiber v2 (the
// server's own framework) on loopback, answering every webhook 200 once its
// body is read, and doing nothing else. The ratio of the two throughputs on
// the same load says how much of the machine the product's work takes.
type Baseline struct {
	URL string
	app *fiber.App
}

// StartBaseline listens on loopback; its webhook URLs are
// URL+"/webhooks/{integration}", as the real server's.
func StartBaseline(bodyLimit int) (*Baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: bodyLimit})
	app.Post("/webhooks/:integration", func(c *fiber.Ctx) error {
		if len(c.Body()) == 0 {
			return c.SendStatus(fiber.StatusBadRequest)
		}
		return c.SendStatus(fiber.StatusOK)
	})
	go app.Listener(ln)
	return &Baseline{URL: "http://" + ln.Addr().String(), app: app}, nil
}

// Close stops the handler.
func (b *Baseline) Close() error { return b.app.Shutdown() }
