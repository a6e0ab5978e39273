package reports

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVHeader is the first line of a report as CSV.
var CSVHeader = []string{"row", "date", "agent", "conversations", "assistant_only", "handed_off",
	"first_response_p50_seconds", "first_response_p90_seconds", "resolution_p50_seconds", "resolution_p90_seconds"}

// WriteCSV writes the report as one table a spreadsheet can filter by its
// first column: a "day" row for every day of the range, a "total" row, then
// an "agent" row for every agent. A percentile without samples is an empty
// cell.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	line := func(kind, date, agent string, f Figures) error {
		return cw.Write([]string{kind, date, agent, strconv.Itoa(f.Conversations), strconv.Itoa(f.AssistantOnly),
			strconv.Itoa(f.HandedOff), cell(f.FirstResponse.P50), cell(f.FirstResponse.P90),
			cell(f.Resolution.P50), cell(f.Resolution.P90)})
	}
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, d := range rep.ByDay {
		if err := line("day", d.Date, "", d.Figures); err != nil {
			return err
		}
	}
	if err := line("total", "", "", rep.Figures); err != nil {
		return err
	}
	for _, a := range rep.ByAgent {
		if err := line("agent", "", a.Agent, a.Figures); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func cell(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

// Filename is what a downloaded CSV is called.
func (rep *Report) Filename() string {
	return "conversa-report-" + rep.From + "-to-" + rep.To + ".csv"
}
