#!/usr/bin/python3
"""An independent Modbus TCP server for cross-checking the poller: pymodbus (Debian's
python3-pymodbus) serving values it encodes itself with BinaryPayloadBuilder.

Usage: pymodbus_server.py '<json points>'
  points: [{"unit": 1, "table": "holding"|"input"|"coil"|"discrete", "address": 0,
            "type": "float32", "order": "CDAB", "value": 1.5}, ...]
Prints "PORT <n>" once listening on 127.0.0.1 (ephemeral port), then serves until killed
or until stdin closes.
"""
import asyncio
import json
import sys

from pymodbus.constants import Endian
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.server.async_io import ModbusTcpServer

# Byte order names → (byte order inside a register, register order), as pymodbus names them.
ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}

ADD = {
    "int16": "add_16bit_int",
    "uint16": "add_16bit_uint",
    "int32": "add_32bit_int",
    "uint32": "add_32bit_uint",
    "int64": "add_64bit_int",
    "uint64": "add_64bit_uint",
    "float32": "add_32bit_float",
    "float64": "add_64bit_float",
}

FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


def registers(point):
    if point["type"] == "string":
        data = point["value"].encode("ascii")
        data = data + b"\x00" * (2 * point["length"] - len(data))
        return [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]
    byteorder, wordorder = ORDERS[point.get("order", "ABCD")]
    builder = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
    getattr(builder, ADD[point["type"]])(point["value"])
    return builder.to_registers()


def build_context(points):
    slaves = {}
    for p in points:
        unit = p["unit"]
        if unit not in slaves:
            slaves[unit] = ModbusSlaveContext(
                di=ModbusSequentialDataBlock(0, [False] * 2000),
                co=ModbusSequentialDataBlock(0, [False] * 2000),
                hr=ModbusSequentialDataBlock(0, [0] * 2000),
                ir=ModbusSequentialDataBlock(0, [0] * 2000),
                zero_mode=True,  # protocol addresses, 0-based, as the poller uses
            )
        values = [bool(p["value"])] if p["table"] in ("coil", "discrete") else registers(p)
        slaves[unit].setValues(FC[p["table"]], p["address"], values)
    return ModbusServerContext(slaves=slaves, single=False)


async def main():
    points = json.loads(sys.argv[1])
    server = ModbusTcpServer(build_context(points), address=("127.0.0.1", 0))
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # Stop when the test closes our stdin (or kills us).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    task.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
