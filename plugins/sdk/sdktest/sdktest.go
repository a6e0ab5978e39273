package sdktest

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Channel serves ch over a real gRPC connection and returns the host's
// client for it, closed at the end of the test.
func Channel(t testing.TB, ch sdk.Channel) sdk.Channel {
	t.Helper()
	return dispense(t, sdk.KindChannel, ch, nil).(sdk.Channel)
}

// Assistant serves as over a real gRPC connection and returns the host's
// client for it, closed at the end of the test.
func Assistant(t testing.TB, as sdk.Assistant) sdk.Assistant {
	t.Helper()
	return dispense(t, sdk.KindAssistant, nil, as).(sdk.Assistant)
}

func dispense(t testing.TB, kind string, ch sdk.Channel, as sdk.Assistant) any {
	t.Helper()
	info := &proto.PluginInfo{Name: "test", Kinds: []string{kind}}
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.PluginSet(info, ch, as))
	t.Cleanup(func() {
		// Server first: closing the client first asks the server to stop
		// itself, which races with this Stop inside go-plugin.
		server.Stop()
		client.Close()
	})
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %s: %v", kind, err)
	}
	return raw
}
