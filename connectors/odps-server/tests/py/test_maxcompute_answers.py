"""Issue 20: the calls where the local server used to answer differently from MaxCompute.
One case per item, written from pyodps's public API (and `o.rest` for the raw reply where
the difference is only visible on the wire)."""
import datetime

import pytest
from odps import errors, options
from odps.models import Column, TableSchema
from odps.tunnel import TableTunnel


def _specs(parts):
    return sorted(str(p.partition_spec) for p in parts)


# 1. partition listing filters by the given prefix, with paging intact
def test_partition_prefix_filter_and_paging(o, name):
    t = o.create_table(name, ("id bigint", "type string, pt string"))
    for ty, pt in [("test", "1"), ("test", "2"), ("test2", "1"), ("test2", "2"), ("test3x", "1")]:
        t.create_partition(f"type={ty},pt={pt}")
    assert t.exist_partitions("type=test2")
    assert not t.exist_partitions("type=test3")
    assert _specs(t.iterate_partitions("type=test2")) == ["type='test2',pt='1'", "type='test2',pt='2'"]
    assert _specs(t.iterate_partitions("type=test,pt=2")) == ["type='test',pt='2'"]
    assert len(list(t.iterate_partitions())) == 5
    # paging: maxitems=2 over the 5 partitions, then over the prefix's 2
    url = t.partitions.resource()
    seen, params = [], {"expectmarker": "true", "maxitems": "2"}
    for _ in range(10):
        body = o.rest.get(url, actions=["partitions"], params=params).text
        seen.append(body.count("<Partition>"))
        marker = body.split("<Marker>")[1].split("</Marker>")[0]
        if not marker:
            break
        params["marker"] = marker
    assert seen == [2, 2, 1]
    params = {"expectmarker": "true", "maxitems": "2", "partition": "type='test'"}
    body = o.rest.get(url, actions=["partitions"], params=params).text
    assert body.count("<Partition>") == 2 and "test2" not in body


# 2. Table.head() / Partition.head(): REST `?data` CSV, and the tunnel's Arrow `/preview`
def test_head_by_rest_data_and_tunnel_preview(o, name):
    t = o.create_table(name, ("id bigint, s string, f double, b boolean, d datetime", "pt string"))
    rows = [
        [1, 'x,"y"', 1.5, True, datetime.datetime(2024, 1, 2, 3, 4, 5)],
        [2, None, None, False, None],
        [3, "multi\nline", -0.25, None, None],
    ]
    with t.open_writer(partition="pt=a", create_partition=True) as w:
        w.write(rows)
    got = [list(r.values)[:5] for r in t.head(3, partition="pt=a")]
    assert got == rows
    assert [r["id"] for r in t.head(2, partition="pt=a")] == [1, 2]
    assert [(r["id"], r["s"]) for r in t.head(3, partition="pt=a", columns=["s", "id"])] == [
        (1, 'x,"y"'),
        (2, None),
        (3, "multi\nline"),
    ]
    assert [r["id"] for r in t.get_partition("pt=a").head(1)] == [1]
    # the tunnel preview (Arrow IPC stream)
    got = [list(r.values)[:5] for r in t.head(3, partition="pt=a", use_legacy=False)]
    assert got == rows
    got = t.head(2, partition="pt=a", columns=["id", "f"], use_legacy=False)
    assert [(r["id"], r["f"]) for r in got] == [(1, 1.5), (2, None)]


# 3. extended metadata: get_max_partition, real sizes, file and record counts
def test_extended_metadata_and_max_partition(o, name):
    t = o.create_table(name, ("id bigint", "pt string"))
    with t.open_writer(partition="pt=1", create_partition=True) as w:
        w.write([[1], [2], [3]])
    t.create_partition("pt=2")
    assert str(t.get_max_partition().partition_spec) == "pt='1'"
    assert str(t.get_max_partition(skip_empty=False).partition_spec) == "pt='2'"
    p = t.get_partition("pt=1")
    assert p.record_num == 3 and p.size > 0
    assert p.physical_size > 0 and p.file_num == 1
    assert p.is_archived is False and p.lifecycle == -1
    listed = {str(x.partition_spec): (x.record_num, x.size) for x in t.partitions}
    assert listed["pt='1'"] == (3, p.size)
    assert listed["pt='2'"] == (0, 0)
    u = o.create_table(name + "_u", "id bigint, s string")
    with u.open_writer() as w:
        w.write([[1, "a"], [2, "b"]])
    u.reload()
    u.reload_extend_info()  # open_writer loaded it while the table was empty
    assert u.record_num == 2 and u.size > 0
    assert u.physical_size > 0 and u.file_num == 1 and u.is_archived is False


# 4. DDL string literals with MaxCompute's backslash escapes (pyodps escapes comments so)
def test_create_table_with_apostrophe_in_comments(o, name):
    schema = TableSchema(
        columns=[Column(name="a", type="bigint", comment="it's \"quoted\"\tand \\ back")],
        partitions=[Column(name="pt", type="string", comment="Ann's day")],
    )
    t = o.create_table(name, schema, comment="Bob's table")
    t = o.get_table(name)
    assert t.comment == "Bob's table"
    assert t.table_schema.columns[0].comment == "it's \"quoted\"\tand \\ back"
    assert t.table_schema.partitions[0].comment == "Ann's day"


# 5. an empty table downloads as an empty stream; a range past the end is InvalidRowRange
def test_empty_table_download_and_invalid_row_range(o, name):
    t = o.create_table(name, "id bigint")
    with t.open_reader() as r:
        assert r.count == 0
        assert list(r) == []
    tunnel = TableTunnel(o)
    down = tunnel.create_download_session(name)
    assert down.count == 0
    with down.open_record_reader(0, 1) as r:
        assert list(r) == []
    with down.open_arrow_reader(0, 1) as r:
        assert r.read().num_rows == 0
    with t.open_writer() as w:
        w.write([[1], [2]])
    down = tunnel.create_download_session(name)
    with pytest.raises(errors.ODPSError) as e:
        with down.open_record_reader(1, 5) as r:
            list(r)
    assert "InvalidRowRange" in str(e.value)


# 6. char(n) values come back blank-padded to n, varchar(n) values as written
def test_char_round_trip_is_blank_padded(o, name):
    t = o.create_table(name, "c char(30), v varchar(30)")
    with t.open_writer() as w:
        w.write([["abc", "abc"], ["", ""], [None, None], ["x" * 30, "x" * 30]])
    want = [("abc" + " " * 27, "abc"), (" " * 30, ""), (None, None), ("x" * 30, "x" * 30)]
    with t.open_reader() as r:
        assert [(rec["c"], rec["v"]) for rec in r] == want
    with t.open_reader(arrow=True) as r:
        tbl = r.read_all()
    assert list(zip(tbl.column("c").to_pylist(), tbl.column("v").to_pylist())) == want


# 7. tunnel protocol version 6: block PUT metrics header, record download metrics trailer
def test_tunnel_v6_metrics(o, name):
    options.tunnel.enable_client_metrics = True
    try:
        t = o.create_table(name, "id bigint")
        tunnel = TableTunnel(o)
        up = tunnel.create_upload_session(name)
        w = up.open_record_writer(0)
        for i in range(100):
            w.write(t.new_record([i]))
        w.close()
        assert w.metrics is not None
        assert w.metrics.server_total_cost >= w.metrics.server_io_cost >= 0
        up.commit([0])
        down = tunnel.create_download_session(name)
        with down.open_record_reader(0, 100) as r:
            assert [rec[0] for rec in r] == list(range(100))
            assert r.metrics is not None
            assert r.metrics.server_total_cost >= 0
    finally:
        options.tunnel.enable_client_metrics = False


# 8. a plain table listing is light (no schema); the schema stays with GET .../tables/T
def test_plain_table_listing_is_light(o, name):
    o.create_table(name, "id bigint, s string", comment="listed")
    o.create_table(name + "_2", "x double")
    tables = list(o.list_tables(prefix=name))
    assert sorted(x.name for x in tables) == [name, name + "_2"]
    url = o.get_project().resource() + "/tables"
    body = o.rest.get(url, params={"expectmarker": "true", "name": name}).text
    assert body.count("<Table>") == 2
    assert "<Schema" not in body and "columns" not in body
    assert f"<Name>{name}</Name>" in body and "<Type>MANAGED_TABLE</Type>" in body
    # the schema loads lazily from the table itself
    t = [x for x in o.list_tables(prefix=name) if x.name == name][0]
    assert [c.name for c in t.table_schema.columns] == ["id", "s"]
    assert t.comment == "listed"
    # `extended` listings carry the schema
    ext = o.rest.get(url, actions=["extended"], params={"expectmarker": "true", "name": name}).text
    assert ext.count("<Schema") == 2
