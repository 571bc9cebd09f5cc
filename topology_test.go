package watchfloor

import (
	"reflect"
	"testing"
)

func TestTopology(t *testing.T) {
	devices := []Device{
		{Name: "core-r1", SysName: "core-r1.east", Neighbors: []Neighbor{
			{LocalPort: "xe-0/0/1", RemoteSysName: "dist-s1.east", RemotePort: "Te1/0/1"},
			{LocalPort: "xe-0/0/9", RemoteSysName: "isp-pe", RemotePort: "ge-1/1/1"},
		}},
		{Name: "dist-s1", SysName: "dist-s1.east", Neighbors: []Neighbor{
			{LocalPort: "Te1/0/1", RemoteSysName: "core-r1.east", RemotePort: "xe-0/0/1"},
			{LocalPort: "Gi1/0/5", ChassisID: "00:11:22:33:44:55", RemotePort: "eth0"},
		}},
	}
	want := []Link{
		{A: "00:11:22:33:44:55", APort: "eth0", B: "dist-s1", BPort: "Gi1/0/5"},
		{A: "core-r1", APort: "xe-0/0/1", B: "dist-s1", BPort: "Te1/0/1"},
		{A: "core-r1", APort: "xe-0/0/9", B: "isp-pe", BPort: "ge-1/1/1"},
	}
	if got := Topology(devices); !reflect.DeepEqual(got, want) {
		t.Fatalf("Topology:\n got %+v\nwant %+v", got, want)
	}
	if Topology(nil) != nil {
		t.Fatal("no devices, no links")
	}
}
