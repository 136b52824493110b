#!/usr/bin/python3
"""A minimal org.freedesktop.Notifications server for the tests.

Owns org.freedesktop.Notifications on the bus given by --address (or
DBUS_SESSION_BUS_ADDRESS) and appends every Notify call as one JSON line to
--out: app_name, replaces_id, app_icon, summary, body, actions, the
"urgency" hint, expire_timeout, the caller's unix uid (asked from the bus
with GetConnectionUnixUser, so the caller cannot lie about it) and
time.monotonic_ns() when the call arrived (CLOCK_MONOTONIC, comparable
with the C side's clock_gettime). Writes --ready once the name is owned.

Needs python3-dbus (which ships dbus.mainloop.glib) and python3-gi (GLib).
Stops on SIGTERM or SIGINT.
"""
import argparse
import json
import os
import signal
import sys
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server(dbus.service.Object):
    def __init__(self, bus, out):
        super().__init__(bus, PATH)
        self.bus = bus
        self.out = out
        self.next_id = 1

    @dbus.service.method(NAME, in_signature="susssasa{sv}i", out_signature="u",
                         sender_keyword="sender")
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints,
               expire_timeout, sender=None):
        arrived = time.monotonic_ns()
        dbus_obj = self.bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus")
        uid = int(dbus.Interface(dbus_obj, "org.freedesktop.DBus")
                  .GetConnectionUnixUser(sender))
        urgency = hints.get("urgency")
        record = {
            "app_name": str(app_name),
            "replaces_id": int(replaces_id),
            "app_icon": str(app_icon),
            "summary": str(summary),
            "body": str(body),
            "actions": [str(a) for a in actions],
            "urgency": int(urgency) if urgency is not None else None,
            "urgency_signature": getattr(urgency, "signature", None) or
                                 type(urgency).__name__,
            "expire_timeout": int(expire_timeout),
            "uid": uid,
            "mono_ns": arrived,
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        nid = self.next_id
        self.next_id += 1
        return dbus.UInt32(nid)

    @dbus.service.method(NAME, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["body", "body-markup"]

    @dbus.service.method(NAME, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ["auditsnitch-test", "auditsnitch", "1", "1.2"]

    @dbus.service.method(NAME, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", default=os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
    ap.add_argument("--out", required=True, help="JSON lines file to append to")
    ap.add_argument("--ready", help="file written once the name is owned")
    args = ap.parse_args()
    if not args.address:
        sys.exit("notify_server: no bus address (--address or DBUS_SESSION_BUS_ADDRESS)")

    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(args.address)
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)
    server = Server(bus, args.out)
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    if args.ready:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write("%d\n" % os.getpid())
    loop.run()
    del name, server


if __name__ == "__main__":
    main()
