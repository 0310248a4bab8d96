"""pyodps 0.13 against ferry's local server: metadata, SQL DDL, record and Arrow tunnels,
compression, all 18 types, 1M rows, auth and block checks."""
import datetime
import decimal

import numpy as np
import pandas as pd
import pytest
from odps import ODPS, errors
from odps.models import TableSchema, Column, Partition
from odps.tunnel import TableTunnel


def test_create_exist_get_table(o, name):
    assert not o.exist_table(name)
    o.create_table(name, "id bigint, name string", lifecycle=1)
    assert o.exist_table(name)
    t = o.get_table(name)
    assert [c.name for c in t.table_schema.columns] == ["id", "name"]
    assert [str(c.type).lower() for c in t.table_schema.columns] == ["bigint", "string"]
    assert name in [x.name for x in o.list_tables()]
    o.delete_table(name)
    assert not o.exist_table(name)
    o.delete_table(name, if_exists=True)


def test_partitions(o, name):
    o.create_table(name, ("id bigint", "pt string, region string"))
    t = o.get_table(name)
    assert [c.name for c in t.table_schema.partitions] == ["pt", "region"]
    assert not t.exist_partition("pt=a,region=x")
    t.create_partition("pt=a,region=x")
    t.create_partition("pt=b,region=y", if_not_exists=True)
    assert t.exist_partition("pt=a,region=x")
    assert t.exist_partition("pt='b',region='y'")
    assert not t.exist_partition("pt=c,region=x")
    assert sorted(str(p.partition_spec) for p in t.partitions) == [
        "pt='a',region='x'",
        "pt='b',region='y'",
    ]
    t.delete_partition("pt=a,region=x")
    assert not t.exist_partition("pt=a,region=x")


def test_writer_reader_and_columns(o, name):
    t = o.create_table(name, "id bigint, name string, score double")
    with t.open_writer() as w:
        w.write([[1, "a", 1.5], [2, "b", None], [3, None, -2.25]])
    with t.open_reader() as r:
        assert r.count == 3
        rows = [list(rec.values) for rec in r]
    assert rows == [[1, "a", 1.5], [2, "b", None], [3, None, -2.25]]
    with t.open_reader(columns=["score", "id"]) as r:
        got = [(rec["id"], rec["score"]) for rec in r]
    assert got == [(1, 1.5), (2, None), (3, -2.25)]
    # a second write appends
    with t.open_writer() as w:
        w.write([[4, "d", 0.0]])
    with t.open_reader() as r:
        assert r.count == 4
        assert [rec["id"] for rec in r[1:3]] == [2, 3]
    # overwrite replaces
    with t.open_writer(overwrite=True) as w:
        w.write([[9, "z", 9.0]])
    with t.open_reader() as r:
        assert [list(rec.values) for rec in r] == [[9, "z", 9.0]]


def test_pandas_arrow_path(o, name):
    o.create_table(name, "id bigint, name string, v double, ts datetime")
    df = pd.DataFrame(
        {
            "id": np.arange(1000, dtype="int64"),
            "name": [f"n{i}" if i % 7 else None for i in range(1000)],
            "v": np.linspace(0, 1, 1000),
            "ts": pd.date_range("2024-01-01", periods=1000, freq="s"),
        }
    )
    o.write_table(name, df)
    t = o.get_table(name)
    with t.open_reader(arrow=True) as r:
        got = r.to_pandas()
    assert len(got) == 1000
    assert got["id"].tolist() == df["id"].tolist()
    names = [None if pd.isna(x) else x for x in got["name"].tolist()[:8]]
    assert names == [None, "n1", "n2", "n3", "n4", "n5", "n6", None]
    assert np.allclose(got["v"].to_numpy(), df["v"].to_numpy())
    with t.open_reader() as r:
        recs = list(r)
    assert [rec["id"] for rec in recs[:3]] == [0, 1, 2]
    assert recs[1]["ts"] == df["ts"][1].to_pydatetime()


@pytest.mark.parametrize("algo", ["zlib", "zstd", "lz4", "snappy"])
def test_compression_both_ways(o, name, algo):
    t = o.create_table(name, "id bigint, s string")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name, compress_algo=algo)
    w = up.open_record_writer(0, compress=True)
    for i in range(5000):
        rec = t.new_record([i, "x" * (i % 50)])
        w.write(rec)
    w.close()
    up.commit([0])
    down = tunnel.create_download_session(name, compress_algo=algo)
    assert down.count == 5000
    with down.open_record_reader(0, down.count, compress=True) as r:
        got = [(rec[0], rec[1]) for rec in r]
    assert got == [(i, "x" * (i % 50)) for i in range(5000)]
    # Arrow both ways with the same coding
    down = tunnel.create_download_session(name, compress_algo=algo)
    with down.open_arrow_reader(0, down.count, compress=True) as r:
        tbl = r.read()
    assert tbl.num_rows == 5000


ALL18 = (
    "c_bigint bigint, c_double double, c_boolean boolean, c_datetime datetime, "
    "c_string string, c_decimal decimal(10,2), c_int int, c_tinyint tinyint, "
    "c_smallint smallint, c_float float, c_varchar varchar(10), c_char char(3), "
    "c_date date, c_timestamp timestamp, c_binary binary, c_array array<bigint>, "
    "c_map map<string,bigint>, c_struct struct<a:bigint,b:string>"
)


def _all18_rows():
    return [
        [
            9223372036854775807,
            1.25,
            True,
            datetime.datetime(2024, 1, 2, 3, 4, 5),
            "héllo 中文",
            decimal.Decimal("12.34"),
            -2147483648,
            -128,
            32767,
            0.5,
            "varchar",
            "abc",
            datetime.date(2024, 2, 29),
            pd.Timestamp("2024-01-02 03:04:05.123456789"),
            b"\x00\xffbin",
            [1, None, 3],
            {"k": 1, "n": None},
            (7, "s"),
        ],
        [
            -5,
            -0.0,
            False,
            datetime.datetime(1969, 12, 31, 23, 59, 59),
            "",
            decimal.Decimal("-0.01"),
            0,
            127,
            -32768,
            -1.5,
            "",
            "xyz",
            datetime.date(1900, 1, 1),
            pd.Timestamp("1960-05-06 07:08:09.000000001"),
            b"",
            [],
            {},
            (None, None),
        ],
        [None] * 18,
    ]


def _norm(v):
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, pd.Timestamp):
        return v.value
    return v


def test_all_18_types_with_nulls(o, name):
    t = o.create_table(name, ALL18)
    rows = _all18_rows()
    with t.open_writer() as w:
        w.write(rows)
    with t.open_reader() as r:
        got = [list(rec.values) for rec in r]
    assert len(got) == 3
    for want_row, got_row in zip(rows, got):
        for i, (a, b) in enumerate(zip(want_row, got_row)):
            if i == 17 and a is not None:
                b = list(b.values()) if isinstance(b, dict) else list(b)
                a = list(a)
            assert _norm(a) == _norm(b), (t.table_schema.columns[i].name, a, b)
    # and through Arrow
    with t.open_reader(arrow=True) as r:
        tbl = r.read_all() if hasattr(r, "read_all") else r.read()
    assert tbl.num_rows == 3
    assert tbl.column("c_decimal").to_pylist()[:2] == [decimal.Decimal("12.34"), decimal.Decimal("-0.01")]
    assert tbl.column("c_array").to_pylist()[0] == [1, None, 3]
    assert all(v is None for v in tbl.slice(2).to_pylist()[0].values())


def test_million_rows(o, name):
    n = 1_000_000
    o.create_table(name, "id bigint, v double")
    df = pd.DataFrame({"id": np.arange(n, dtype="int64"), "v": np.arange(n, dtype="float64") / 2})
    o.write_table(name, df)
    t = o.get_table(name)
    with t.open_reader(arrow=True) as r:
        assert r.count == n
        got = r.to_pandas()
    assert len(got) == n
    assert int(got["id"].sum()) == n * (n - 1) // 2
    # record path for the same rows, only a slice (keeps the suite fast)
    with t.open_reader() as r:
        tail = [rec["id"] for rec in r[n - 3 : n]]
    assert tail == [n - 3, n - 2, n - 1]


def test_wrong_access_key_is_rejected(cfg, name):
    bad = dict(cfg, secret_access_key="not-the-key")
    with pytest.raises(errors.ODPSError) as e:
        ODPS(**bad).exist_table(name)
    assert "Signature" in str(e.value) or "Unauthorized" in type(e.value).__name__


def test_v4_signature(cfg, name):
    o4 = ODPS(**cfg, region_name="cn-local")
    assert not o4.exist_table(name)
    o4.create_table(name, "id bigint")
    with o4.get_table(name).open_writer() as w:
        w.write([[1]])
    with o4.get_table(name).open_reader() as r:
        assert [rec[0] for rec in r] == [1]


def test_commit_without_all_blocks_is_refused(o, name):
    t = o.create_table(name, "id bigint")
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session(name)
    w = up.open_record_writer(0)
    w.write(t.new_record([1]))
    w.close()
    with pytest.raises(Exception):
        up.commit([0, 1])
    with t.open_reader() as r:
        assert r.count == 0
    up.commit([0])
    with t.open_reader(reopen=True) as r:
        assert r.count == 1


def test_partition_required_and_rowrange_checked(o, name):
    t = o.create_table(name, ("id bigint", "pt string"))
    tunnel = TableTunnel(o)
    with pytest.raises(Exception):
        tunnel.create_upload_session(name)
    with pytest.raises(Exception):
        tunnel.create_upload_session(name, partition_spec="pt=missing")
    with t.open_writer(partition="pt=a", create_partition=True) as w:
        w.write([[1], [2]])
    down = tunnel.create_download_session(name, partition_spec="pt=a")
    assert down.count == 2
    with pytest.raises(Exception):
        with down.open_record_reader(1, 5) as r:
            list(r)


def test_hpg_seed_table(o):
    name = "hpg"
    o.delete_table(name, if_exists=True)
    o.create_table(
        name,
        (
            "id bigint, name string, year bigint, birthdate datetime, ismarried boolean, "
            "interest string, salary double",
            "pt string",
        ),
    )
    rows = [
        [1, "Ann", 1990, datetime.datetime(1990, 3, 4, 5, 6, 7), True, "chess", 1234.5],
        [2, "Bob", 1985, datetime.datetime(1985, 12, 31, 0, 0, 0), False, None, 99.0],
        [3, None, None, None, None, None, None],
    ]
    t = o.get_table(name)
    with t.open_writer(partition="pt=20261122", create_partition=True) as w:
        w.write(rows)
    assert t.exist_partition("pt=20261122")
    with t.open_reader(partition="pt=20261122") as r:
        got = [list(rec.values)[:7] for rec in r]
    assert got == rows
    with t.open_reader(partition="pt=20261122", columns=["name", "salary"]) as r:
        assert [(rec["name"], rec["salary"]) for rec in r] == [("Ann", 1234.5), ("Bob", 99.0), (None, None)]
