"""android_bench/adb.py: `adb devices` and `getprop` output as adb prints it."""
# ruff: noqa: E501  (adb's listings, line for line)

from android_bench import adb, commands

# Recorded `adb devices -l` listings (adb 1.0.41; the daemon lines are what a first call prints
# while it starts the server).
LISTING_MIXED = """\
* daemon not running; starting now at tcp:5037
* daemon started successfully
List of devices attached
28131FDH2000B1         device usb:1-1 product:panther model:Pixel_7 device:panther transport_id:3
R58M42ABCDE            unauthorized usb:1-2 transport_id:4
emulator-5554          offline transport_id:1
192.168.1.20:5555      device product:beyond1lte model:SM_G973F device:beyond1 transport_id:5
0123456789ABCDEF       no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:6
ZY22FLDXXX             recovery usb:1-4 transport_id:7

"""


def test_parse_devices_sorts_ready_phones_from_problems():
    devices, problems = adb.parse_devices(LISTING_MIXED)
    assert devices == ["28131FDH2000B1", "192.168.1.20:5555"]
    reasons = dict(problems)
    assert list(reasons) == ["R58M42ABCDE", "emulator-5554", "0123456789ABCDEF", "ZY22FLDXXX"]
    assert "unauthorized" in reasons["R58M42ABCDE"] and "USB debugging" in reasons["R58M42ABCDE"]
    assert "offline" in reasons["emulator-5554"]
    assert "no permission" in reasons["0123456789ABCDEF"] and "udev" in reasons["0123456789ABCDEF"]
    assert "'recovery'" in reasons["ZY22FLDXXX"]


def test_parse_devices_without_details_and_empty():
    assert adb.parse_devices("List of devices attached\nABC\tdevice\nDEF\tunauthorized\n\n") == (
        ["ABC"],
        [("DEF", adb._STATE_REASONS["unauthorized"].format(serial="DEF"))],
    )
    assert adb.parse_devices("List of devices attached\n\n") == ([], [])
    assert adb.parse_devices(
        "adb server version (39) doesn't match this client (41); killing...\nList of devices attached\n"
    ) == ([], [])


def test_parse_getprop():
    text = "[ro.product.model]: [Pixel 7]\r\n[ro.build.version.sdk]: [34]\n[empty]: []\n"
    assert adb.parse_getprop(commands._normalise(text)) == {
        "ro.product.model": "Pixel 7",
        "ro.build.version.sdk": "34",
        "empty": "",
    }
