'''A stand-in for bluetoothd serving readerlink readers (python-dbusmock template).

Test-only. It extends dbusmock's `bluez5` template with what BlueZ shows for a
readerlink reader: a device with our manufacturer data, advertised service
UUID and RSSI; after `Connect`, `Connected` and `ServicesResolved` become true
and the reader's GATT service appears with its command (write) and event
(notify) characteristics. Writes are recorded by dbusmock (`WriteValue` calls,
also broadcast as `org.freedesktop.DBus.Mock.MethodCalled` signals); a
notification is a `PropertiesChanged` of the event characteristic's `Value`.

Extra methods on `org.bluez.Mock` at `/`:
  AddReader(adapter, address, alias, rssi, manufacturer_id, manufacturer_data,
            service_uuid, command_uuid, event_uuid, mtu) -> device path
  Notify(device_path, value)        the reader sends one notification
  DropLink(device_path)             the link is lost (supervision timeout)
  SetAdapterPowered(adapter, on)    the adapter is powered off (or on)
  SetConnectable(device_path, on)   the device cannot be connected (out of range), or can again
'''

from xml.etree import ElementTree

import dbus
import dbus.service

from dbusmock import OBJECT_MANAGER_IFACE, mockobject
# Re-export the bluez5 template so its methods (AddAdapter, AddDevice, ...)
# are registered on the mock as well.
from dbusmock.templates.bluez5 import *  # noqa: F401,F403 pylint: disable=wildcard-import,unused-wildcard-import
from dbusmock.templates.bluez5 import (ADAPTER_IFACE, BLUEZ_MOCK_IFACE, DEVICE_IFACE,
                                       AddDevice as _add_device)
from dbusmock.templates.bluez5 import load as _load_bluez5

GATT_SERVICE_IFACE = 'org.bluez.GattService1'
GATT_CHARACTERISTIC_IFACE = 'org.bluez.GattCharacteristic1'
SERVICE_NODE = '/service0010'
COMMAND_NODE = '/char0011'
EVENT_NODE = '/char0013'


def load(mock, parameters):
    _load_bluez5(mock, parameters)


def _emit_changed(obj, interface, changed):
    obj.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as', [
        interface, dbus.Dictionary(changed, signature='sv'), dbus.Array([], signature='s')])


def _set(obj, interface, changed):
    for name, value in changed.items():
        obj.props[interface][name] = value
    _emit_changed(obj, interface, changed)


def _adapter_of(device):
    return mockobject.objects[str(device.props[DEVICE_IFACE]['Adapter'])]


def _introspect_interfaces_first(obj):
    '''Introspection data with every <interface> before the child <node>s.

    dbusmock appends property-only interfaces after the children, and
    BlueZ never does; bluez-async's parser rejects that order.
    '''
    tree = ElementTree.fromstring(mockobject.DBusMockObject.Introspect(obj, obj.path, obj.connection))
    for node in [child for child in tree if child.tag == 'node']:
        tree.remove(node)
        tree.append(node)
    return ElementTree.tostring(tree, encoding='unicode')


def _write_value(characteristic, value, options):
    '''Recorded by dbusmock; the test bridge carries the bytes to the reader.'''
    if not characteristic.device.connected:
        raise dbus.exceptions.DBusException('Not connected', name='org.bluez.Error.NotConnected')


def _start_notify(characteristic):
    if not characteristic.device.connected:
        raise dbus.exceptions.DBusException('Not connected', name='org.bluez.Error.NotConnected')
    _set(characteristic, GATT_CHARACTERISTIC_IFACE, {'Notifying': dbus.Boolean(True, variant_level=1)})


def _stop_notify(characteristic):
    _set(characteristic, GATT_CHARACTERISTIC_IFACE, {'Notifying': dbus.Boolean(False, variant_level=1)})


def _add_gatt(device):
    '''Publishes the reader's GATT database, as BlueZ does once services resolve.'''
    manager = mockobject.objects['/']
    path = device.path
    service_path = path + SERVICE_NODE
    if service_path in mockobject.objects:
        return
    manager.AddObject(service_path, GATT_SERVICE_IFACE, {
        'UUID': dbus.String(device.reader['service_uuid'], variant_level=1),
        'Primary': dbus.Boolean(True, variant_level=1),
        'Device': dbus.ObjectPath(path, variant_level=1),
        'Includes': dbus.Array([], signature='o', variant_level=1),
    }, [])
    mockobject.objects[service_path].AddMethods(dbus.INTROSPECTABLE_IFACE, [
        ('Introspect', '', 's', _introspect_interfaces_first),
    ])
    characteristics = [
        (COMMAND_NODE, device.reader['command_uuid'], ['write-without-response', 'write'],
         [('WriteValue', 'aya{sv}', '', _write_value)]),
        (EVENT_NODE, device.reader['event_uuid'], ['notify'],
         [('StartNotify', '', '', _start_notify), ('StopNotify', '', '', _stop_notify)]),
    ]
    for node, uuid, flags, methods in characteristics:
        char_path = service_path + node
        manager.AddObject(char_path, GATT_CHARACTERISTIC_IFACE, {
            'UUID': dbus.String(uuid, variant_level=1),
            'Service': dbus.ObjectPath(service_path, variant_level=1),
            'Value': dbus.Array([], signature='y', variant_level=1),
            'Notifying': dbus.Boolean(False, variant_level=1),
            'Flags': dbus.Array(flags, signature='s', variant_level=1),
            'MTU': dbus.UInt16(device.reader['mtu'], variant_level=1),
        }, methods)
        mockobject.objects[char_path].device = device
    for obj_path in (service_path, service_path + COMMAND_NODE, service_path + EVENT_NODE):
        manager.object_manager_emit_added(obj_path)


def _connect(device):
    if device.connected:
        raise dbus.exceptions.DBusException('Already Connected', name='org.bluez.Error.AlreadyConnected')
    if not _adapter_of(device).props[ADAPTER_IFACE]['Powered']:
        raise dbus.exceptions.DBusException('Resource Not Ready', name='org.bluez.Error.NotReady')
    if not device.reader['connectable']:
        # What bluetoothd answers when an LE connect gets no answer.
        raise dbus.exceptions.DBusException('le-connection-abort-by-local', name='org.bluez.Error.Failed')
    device.connected = True
    _add_gatt(device)
    _set(device, DEVICE_IFACE, {
        'Connected': dbus.Boolean(True, variant_level=1),
        'ServicesResolved': dbus.Boolean(True, variant_level=1),
    })


def _lose_link(device):
    device.connected = False
    event_path = device.path + SERVICE_NODE + EVENT_NODE
    if event_path in mockobject.objects:
        mockobject.objects[event_path].props[GATT_CHARACTERISTIC_IFACE]['Notifying'] = dbus.Boolean(
            False, variant_level=1)
    _set(device, DEVICE_IFACE, {
        'ServicesResolved': dbus.Boolean(False, variant_level=1),
        'Connected': dbus.Boolean(False, variant_level=1),
    })


def _disconnect(device):
    if not device.connected:
        raise dbus.exceptions.DBusException('Not Connected', name='org.bluez.Error.NotConnected')
    _lose_link(device)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature='sssnqaysssq', out_signature='s')
def AddReader(self, adapter, address, alias, rssi, manufacturer_id, manufacturer_data,
              service_uuid, command_uuid, event_uuid, mtu):
    '''Adds a readerlink reader, as BlueZ shows it once its advertisement was heard.'''
    path = _add_device(self, adapter, address, alias)
    device = mockobject.objects[path]
    device.reader = {
        'service_uuid': str(service_uuid),
        'command_uuid': str(command_uuid),
        'event_uuid': str(event_uuid),
        'mtu': int(mtu),
        'connectable': True,
    }
    device.AddMethods(DEVICE_IFACE, [
        ('Connect', '', '', _connect),
        ('Disconnect', '', '', _disconnect),
    ])
    _set(device, DEVICE_IFACE, {
        'RSSI': dbus.Int16(rssi, variant_level=1),
        'UUIDs': dbus.Array([str(service_uuid)], signature='s', variant_level=1),
        'ManufacturerData': dbus.Dictionary(
            {dbus.UInt16(manufacturer_id): dbus.Array(manufacturer_data, signature='y', variant_level=1)},
            signature='qv', variant_level=1),
    })
    return path


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature='oay', out_signature='')
def Notify(_self, device_path, value):
    '''The reader sends one notification on its event characteristic.'''
    characteristic = mockobject.objects[str(device_path) + SERVICE_NODE + EVENT_NODE]
    if not characteristic.props[GATT_CHARACTERISTIC_IFACE]['Notifying']:
        raise dbus.exceptions.DBusException('Not notifying', name='org.bluez.Error.NotPermitted')
    _set(characteristic, GATT_CHARACTERISTIC_IFACE,
         {'Value': dbus.Array(value, signature='y', variant_level=1)})


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature='o', out_signature='')
def DropLink(_self, device_path):
    '''The link to the device is lost (supervision timeout).'''
    _lose_link(mockobject.objects[str(device_path)])


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature='ob', out_signature='')
def SetConnectable(_self, device_path, connectable):
    '''Makes Connect fail, as for a device out of range (or succeed again).'''
    mockobject.objects[str(device_path)].reader['connectable'] = bool(connectable)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature='sb', out_signature='')
def SetAdapterPowered(_self, adapter, powered):
    '''Powers the adapter off (dropping every link, as bluetoothd does) or on.'''
    adapter_path = '/org/bluez/' + adapter
    adapter_obj = mockobject.objects[adapter_path]
    adapter_obj.props[ADAPTER_IFACE]['Powered'] = dbus.Boolean(powered, variant_level=1)
    changed = {'Powered': dbus.Boolean(powered, variant_level=1)}
    if not powered:
        adapter_obj.props[ADAPTER_IFACE]['Discovering'] = dbus.Boolean(False, variant_level=1)
        changed['Discovering'] = dbus.Boolean(False, variant_level=1)
    _emit_changed(adapter_obj, ADAPTER_IFACE, changed)
    if not powered:
        for path, obj in list(mockobject.objects.items()):
            if path.startswith(adapter_path + '/dev_') and path.count('/') == 4 and getattr(obj, 'connected', False):
                _lose_link(obj)
