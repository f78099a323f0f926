use super::read;
use crate::SourceError;
use ferry_core::{MemorySink, NoteKind, Value};

fn parse(input: &[u8]) -> (MemorySink, Result<String, SourceError>) {
    let mut sink = MemorySink::default();
    let r = read(input, "t.sql", &mut sink);
    (sink, r)
}

fn ok(input: &str) -> MemorySink {
    let (sink, r) = parse(input.as_bytes());
    if let Err(e) = r {
        panic!("unexpected error: {e}");
    }
    sink
}

fn t(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn b(s: &[u8]) -> Value {
    Value::Bytes(s.to_vec())
}

fn syntax_line(r: Result<String, SourceError>) -> (u64, String) {
    match r {
        Err(SourceError::Syntax { line, message, .. }) => (line, message),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

const T1: &str = "CREATE TABLE `t` (\n  `a` text\n);\n";

fn one_value(literal: &str) -> Value {
    let sink = ok(&format!("{T1}INSERT INTO `t` VALUES ({literal});\n"));
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows.len(), 1, "one row for {literal}");
    rows[0][0].clone()
}

#[test]
fn every_mysql_escape() {
    assert_eq!(
        one_value(r"'\0\'\'\b\n\r\t\Z\\\%\_\q'"),
        t("\0''\u{8}\n\r\t\u{1a}\\\\%\\_q")
    );
    assert_eq!(one_value(r#"'\"'"#), t("\""));
    assert_eq!(one_value("'it''s'"), t("it's"));
    assert_eq!(one_value("\"say \"\"hi\"\" 'x'\""), t("say \"hi\" 'x'"));
    assert_eq!(one_value("''"), t(""));
}

#[test]
fn numbers_are_kept_as_written() {
    for n in [
        "-1",
        "1.50",
        "1e-5",
        ".5",
        "+3",
        "0",
        "00012",
        "-0.000015",
        "1E+300",
        "5.",
    ] {
        assert_eq!(one_value(n), t(n), "{n}");
    }
}

#[test]
fn malformed_numbers_are_errors() {
    for n in ["1e", "1.2.3", "--", "1-2", "+"] {
        let (_, r) = parse(format!("{T1}INSERT INTO `t` VALUES ({n});").as_bytes());
        let (line, msg) = syntax_line(r);
        assert_eq!(line, 4, "{n}");
        assert!(msg.contains("re-export"), "{msg}");
    }
}

#[test]
fn literal_kinds() {
    assert_eq!(one_value("NULL"), Value::Null);
    assert_eq!(one_value("null"), Value::Null);
    assert_eq!(one_value("0xABCD"), b(&[0xab, 0xcd]));
    assert_eq!(one_value("0xabc"), b(&[0x0a, 0xbc]));
    assert_eq!(one_value("X'abcd'"), b(&[0xab, 0xcd]));
    assert_eq!(one_value("x''"), b(&[]));
    assert_eq!(one_value("b'0101'"), b(&[5]));
    assert_eq!(one_value("b'100000001'"), b(&[1, 1]));
    assert_eq!(one_value("0b11"), b(&[3]));
    assert_eq!(one_value("_binary 'a\\0b'"), b(b"a\0b"));
    assert_eq!(one_value("_binary'\u{e9}'"), b("\u{e9}".as_bytes()));
    assert_eq!(one_value("_utf8mb4'\u{e9}'"), t("\u{e9}"));
    assert_eq!(one_value("_latin1'\\xE9'"), t("xE9"));
    assert_eq!(one_value("_utf8mb4 0x6869"), t("hi"));
    assert_eq!(one_value("N'abc'"), t("abc"));
    assert_eq!(one_value("TRUE"), t("TRUE"));
    assert_eq!(one_value("false"), t("false"));
}

#[test]
fn garbage_where_a_value_was_expected_says_what_was_expected() {
    for bad in [
        "foo", "@x", "`a`", "(1)", "0x", "X'zz'", "b'12'", "_sjis'a'",
    ] {
        let (_, r) = parse(format!("{T1}INSERT INTO `t` VALUES ({bad});").as_bytes());
        let (line, msg) = syntax_line(r);
        assert_eq!(line, 4, "{bad}");
        assert!(
            msg.contains("expected") || msg.contains("unsupported"),
            "{bad}: {msg}"
        );
    }
}

#[test]
fn latin1_strings_are_transcoded_with_one_note_per_table() {
    let mut input = b"SET NAMES latin1;\nCREATE TABLE `t` (`a` text, `b` text);\n".to_vec();
    input.extend_from_slice(b"INSERT INTO `t` VALUES ('caf\xe9','\x80'),('x','y');\n");
    input.extend_from_slice(b"INSERT INTO `t` VALUES ('\xe9','z');\n");
    let (sink, r) = parse(&input);
    assert_eq!(r.ok().as_deref(), Some("latin1"));
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows[0], vec![t("caf\u{e9}"), t("\u{20ac}")]);
    assert_eq!(rows[2], vec![t("\u{e9}"), t("z")]);
    let notes: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Transcoded)
        .collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].line, Some(3));
    assert_eq!(notes[0].table.as_deref(), Some("t"));
    assert!(notes[0].message.contains("latin1"));
    assert_eq!(
        sink.def_of("t")
            .and_then(|d| d.transcoded_from.clone())
            .as_deref(),
        Some("windows-1252")
    );
}

#[test]
fn charset_switches_statement_by_statement() {
    let mut input = b"CREATE TABLE `t` (`a` text);\nSET NAMES latin1;\n".to_vec();
    input.extend_from_slice(b"INSERT INTO `t` VALUES ('\xe9');\n/*!40101 SET NAMES utf8mb4 */;\n");
    input.extend_from_slice("INSERT INTO `t` VALUES ('\u{e9}');\n".as_bytes());
    input.extend_from_slice(b"SET NAMES binary;\nINSERT INTO `t` VALUES ('\xe9');\n");
    input.extend_from_slice(b"SET NAMES 'utf8';\n");
    let (sink, r) = parse(&input);
    assert_eq!(r.ok().as_deref(), Some("utf8"));
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows[0][0], t("\u{e9}"));
    assert_eq!(rows[1][0], t("\u{e9}"));
    assert_eq!(rows[2][0], b(b"\xe9"));
}

#[test]
fn set_character_set_client_does_not_change_data_decoding() {
    let input = "SET NAMES utf8mb4;\n/*!40101 SET character_set_client = latin1 */;\n\
                 CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('\u{e9}');\n";
    let sink = ok(input);
    assert_eq!(sink.rows_of("t").unwrap_or_default()[0][0], t("\u{e9}"));
}

#[test]
fn invalid_utf8_becomes_bytes_with_one_note_per_column() {
    let input = b"CREATE TABLE `t` (`a` text, `b` text);\nINSERT INTO `t` VALUES ('\xff','ok'),\n('\xfe','\xc3');\n";
    let (sink, r) = parse(input);
    assert!(r.is_ok());
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows[0], vec![b(b"\xff"), t("ok")]);
    assert_eq!(rows[1], vec![b(b"\xfe"), b(b"\xc3")]);
    let notes: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::InvalidText)
        .map(|n| (n.column.clone().unwrap_or_default(), n.line))
        .collect();
    assert_eq!(
        notes,
        vec![("a".to_string(), Some(2)), ("b".to_string(), Some(3))]
    );
}

#[test]
fn binary_columns_are_bytes_whatever_the_charset() {
    let input = b"SET NAMES latin1;\nCREATE TABLE `t` (`a` blob, `b` varbinary(4), `c` bit(3), `d` varchar(3));\nINSERT INTO `t` VALUES ('\xe9','ab','\x05','\xe9');\n";
    let (sink, r) = parse(input);
    assert!(r.is_ok());
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows[0], vec![b(b"\xe9"), b(b"ab"), b(b"\x05"), t("\u{e9}")]);
}

#[test]
fn every_comment_kind() {
    let input = "-- a comment; with semicolon\n# hash comment;\n/* block ; comment */\n\
                 /*!40101 SET NAMES latin1 */;\n/*M!999999\\- enable the sandbox mode */\n\
                 CREATE TABLE `t` (`a` int -- trailing\n);\n--\n\
                 INSERT INTO `t` /* c */ VALUES (1) /* x */, # y\n(-- z\n2);\n";
    let (sink, r) = parse(input.as_bytes());
    assert_eq!(r.ok().as_deref(), Some("latin1"));
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows, &[vec![t("1")], vec![t("2")]][..]);
}

#[test]
fn double_minus_without_space_is_not_a_comment() {
    let (_, r) = parse(format!("{T1}INSERT INTO `t` VALUES (--3);").as_bytes());
    let (line, _) = syntax_line(r);
    assert_eq!(line, 4);
}

#[test]
fn strings_with_statement_syntax_inside_do_not_split_statements() {
    let v = one_value("'a;b -- c /* d */ # e */ \\' ; f'");
    assert_eq!(v, t("a;b -- c /* d */ # e */ ' ; f"));
}

#[test]
fn delimiter_and_routines_triggers_views_are_skipped_with_notes() {
    let input = "CREATE TABLE `t` (`a` int);\n\
        DELIMITER ;;\n\
        /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `trg` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1; */;;\n\
        CREATE DEFINER=`root`@`%` PROCEDURE `p`(OUT n int)\nBEGIN SELECT 'x;y;;' INTO n; END ;;\n\
        CREATE FUNCTION `db`.`f`() RETURNS int RETURN 1 ;;\n\
        /*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `ev` ON SCHEDULE EVERY 1 DAY DO DELETE FROM t; */ ;;\n\
        DELIMITER ;\n\
        INSERT INTO `t` VALUES (1);\n\
        /*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 AS `a` */;\n\
        CREATE OR REPLACE VIEW `v` AS SELECT 2;\n";
    let sink = ok(input);
    assert_eq!(sink.rows_of("t").unwrap_or_default().len(), 1);
    let skipped: Vec<(String, Option<u64>)> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::SkippedObject)
        .map(|n| {
            (
                n.message.split(':').next().unwrap_or("").to_string(),
                n.line,
            )
        })
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "skipped trigger `trg` (line 3)",
            "skipped procedure `p` (line 4)",
            "skipped function `f` (line 6)",
            "skipped event `ev` (line 7)",
            "skipped view `v` (line 10)",
        ]
    );
    assert_eq!(sink.tables.len(), 1);
}

#[test]
fn stand_in_table_for_a_view_is_not_staged() {
    let input = "DROP TABLE IF EXISTS `v`;\n/*!50001 DROP VIEW IF EXISTS `v`*/;\n\
        /*!50001 CREATE TABLE `v` (\n `a` tinyint NOT NULL\n) ENGINE=MyISAM */;\n\
        CREATE TABLE `real` (`a` int);\n\
        /*!50001 DROP TABLE IF EXISTS `v`*/;\n/*!50001 DROP VIEW IF EXISTS `v`*/;\n\
        /*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50001 VIEW `v` AS select 1 AS `a` */;\n";
    let sink = ok(input);
    let names: Vec<&str> = sink.tables.iter().map(|(d, _)| d.name.as_str()).collect();
    assert_eq!(names, vec!["real"]);
    assert_eq!(
        sink.notes
            .iter()
            .filter(|n| n.kind == NoteKind::SkippedObject)
            .count(),
        1
    );
}

#[test]
fn complete_insert_is_reordered_and_missing_columns_are_null_with_one_note() {
    let input = "CREATE TABLE `t` (`a` int, `b` text, `c` text);\n\
        INSERT INTO `t` (`c`,`a`) VALUES ('c1',1),('c2',2);\n\
        INSERT INTO t (c, a) VALUES ('c3',3);\n\
        INSERT INTO `t` (`a`,`b`,`c`) VALUES (4,'b4','c4');\n";
    let sink = ok(input);
    let rows = sink.rows_of("t").unwrap_or_default();
    assert_eq!(rows[0], vec![t("1"), Value::Null, t("c1")]);
    assert_eq!(rows[2], vec![t("3"), Value::Null, t("c3")]);
    assert_eq!(rows[3], vec![t("4"), t("b4"), t("c4")]);
    let notes: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Warning)
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].message.contains("`b`"));
}

#[test]
fn complete_insert_naming_an_unknown_column_is_an_error() {
    let (_, r) = parse(b"CREATE TABLE `t` (`a` int);\nINSERT INTO `t` (`zz`) VALUES (1);");
    let (line, msg) = syntax_line(r);
    assert_eq!(line, 2);
    assert!(msg.contains("zz"));
}

#[test]
fn no_create_info_dump_creates_tables_from_inserts() {
    let input = "INSERT INTO `t` VALUES (1,'a'),(2,'b');\nINSERT INTO `u` (`x`,`y`) VALUES (1,2);\nINSERT INTO `t` VALUES (3,'c');\n";
    let sink = ok(input);
    let def = sink.def_of("t").cloned();
    let cols: Vec<String> = def
        .map(|d| d.columns.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    assert_eq!(cols, vec!["c1", "c2"]);
    assert_eq!(sink.rows_of("t").unwrap_or_default().len(), 3);
    let ucols: Vec<String> = sink
        .def_of("u")
        .map(|d| d.columns.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    assert_eq!(ucols, vec!["x", "y"]);
    assert_eq!(
        sink.notes
            .iter()
            .filter(|n| n.kind == NoteKind::Warning)
            .count(),
        2
    );
}

#[test]
fn backquote_escaping_in_names() {
    let sink = ok(
        "CREATE TABLE `we``ird` (`co``l` int, `key` int, PRIMARY KEY (`key`,`co``l`(3)));\nINSERT INTO `we``ird` VALUES (1,2);\n",
    );
    let def = sink.def_of("we`ird").cloned();
    let def = def.unwrap_or_else(|| panic!("table missing"));
    assert_eq!(def.columns[0].name, "co`l");
    assert_eq!(def.primary_key, vec!["key", "co`l"]);
}

#[test]
fn create_table_metadata() {
    let sink = ok("CREATE TABLE IF NOT EXISTS `p` (\n\
        `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n\
        `name` varchar(64) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL,\n\
        `kind` enum('a','b''c') NOT NULL DEFAULT 'a',\n\
        `amt` decimal(5,2) DEFAULT '0.00' COMMENT 'x, (y)',\n\
        `plain` text,\n\
        PRIMARY KEY (`id`),\n  KEY `k` (`name`),\n  UNIQUE KEY `u` (`kind`),\n\
        CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `q` (`id`)\n\
        ) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=latin1;\n");
    let def = sink
        .def_of("p")
        .cloned()
        .unwrap_or_else(|| panic!("missing"));
    let cols: Vec<(String, Option<String>)> = def
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.declared_type.clone()))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("id".into(), Some("int(10) unsigned".into())),
            (
                "name".into(),
                Some("varchar(64) CHARACTER SET latin1 COLLATE latin1_swedish_ci".into())
            ),
            ("kind".into(), Some("enum('a','b''c')".into())),
            ("amt".into(), Some("decimal(5,2)".into())),
            ("plain".into(), Some("text".into())),
        ]
    );
    assert_eq!(def.primary_key, vec!["id"]);
    assert_eq!(def.charset.as_deref(), Some("latin1"));
    assert_eq!(def.origin.line, 1);
}

#[test]
fn multiple_databases() {
    let input = "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `a`;\nUSE `a`;\nCREATE TABLE `t` (`x` int);\nINSERT INTO `t` VALUES (1);\n\
                 CREATE DATABASE `b`;\nUSE `b`;\nCREATE TABLE `t` (`x` int);\nINSERT INTO `t` VALUES (2);\nINSERT INTO `a`.`t` VALUES (3);\n";
    let sink = ok(input);
    assert_eq!(sink.tables.len(), 2);
    assert_eq!(sink.tables[0].0.database.as_deref(), Some("a"));
    assert_eq!(sink.tables[1].0.database.as_deref(), Some("b"));
    assert_eq!(sink.tables[0].1, vec![vec![t("1")], vec![t("3")]]);
    assert_eq!(sink.tables[1].1, vec![vec![t("2")]]);
}

#[test]
fn insert_ignore_and_replace_into() {
    let sink = ok(&format!(
        "{T1}INSERT IGNORE INTO `t` VALUES ('a');\nREPLACE INTO `t` VALUES ('b');\nINSERT LOW_PRIORITY t VALUE ('c') ON DUPLICATE KEY UPDATE a='x;';\n"
    ));
    assert_eq!(sink.rows_of("t").unwrap_or_default().len(), 3);
    // The upsert clause is not applied, and that is said, never silent.
    assert!(
        sink.notes
            .iter()
            .any(|n| n.kind == NoteKind::Warning && n.message.contains("ON DUPLICATE KEY UPDATE")),
        "{:?}",
        sink.notes
    );
}

#[test]
fn wrong_value_count_names_line_table_and_tuple() {
    let (_, r) =
        parse(b"CREATE TABLE `t` (`a` int, `b` int);\nINSERT INTO `t` VALUES (1,2),\n(3);");
    let (line, msg) = syntax_line(r);
    assert_eq!(line, 3);
    assert!(
        msg.contains("row 2") && msg.contains("`t`") && msg.contains("fewer"),
        "{msg}"
    );
    let (_, r) = parse(b"CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (1,2);");
    let (line, msg) = syntax_line(r);
    assert_eq!(line, 2);
    assert!(msg.contains("row 1") && msg.contains("more"), "{msg}");
}

#[test]
fn unterminated_things_name_the_line_where_they_started() {
    let cases: &[(&str, u64)] = &[
        (
            "CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES\n('abc",
            3,
        ),
        (
            "CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES\n('a'),\n('b'",
            2,
        ),
        (
            "CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('a'),",
            2,
        ),
        ("\n/* never closed\n\n", 2),
        ("\n\n/*!40101 SET NAMES utf8", 3),
        ("SET NAMES\nutf8", 1),
        ("CREATE TABLE `t", 1),
    ];
    for (input, want) in cases {
        let (_, r) = parse(input.as_bytes());
        let (line, msg) = syntax_line(r);
        assert_eq!(line, *want, "{input:?}: {msg}");
        assert!(msg.contains("re-export"), "{msg}");
    }
}

#[test]
fn unknown_statements_get_a_warning_without_data() {
    let sink = ok(
        "GRANT SELECT ON x TO 'secret-person'@'%';\nUPDATE t SET name='Jane Doe';\nLOCK TABLES `t` WRITE;\n",
    );
    let msgs: Vec<&str> = sink.notes.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(msgs.len(), 2);
    assert!(msgs[0].contains("GRANT SELECT ON"));
    assert!(
        !msgs
            .iter()
            .any(|m| m.contains("Jane") || m.contains("secret"))
    );
}

#[test]
fn crlf_line_endings() {
    let input = "-- c\r\nCREATE TABLE `t` (\r\n`a` text\r\n);\r\nINSERT INTO `t` VALUES ('x\r\ny'),\r\n(1);\r\n";
    let sink = ok(input);
    assert_eq!(
        sink.rows_of("t").unwrap_or_default(),
        &[vec![t("x\r\ny")], vec![t("1")]][..]
    );
}

#[test]
fn empty_and_comment_only_files() {
    let (sink, r) = parse(b"");
    assert_eq!(r.ok().as_deref(), Some("utf8mb4"));
    assert!(sink.tables.is_empty());
    let (sink, r) = parse(b"-- only\n/* comments */\n# here\n--");
    assert!(r.is_ok());
    assert!(sink.tables.is_empty() && sink.notes.is_empty());
}

#[test]
fn empty_tables_are_staged_at_the_end() {
    let sink = ok(
        "CREATE TABLE `e` (`a` int);\nCREATE TABLE `f` (`a` int);\nINSERT INTO `f` VALUES (1);\n",
    );
    let names: Vec<&str> = sink.tables.iter().map(|(d, _)| d.name.as_str()).collect();
    assert_eq!(names, vec!["f", "e"]);
}

#[test]
fn values_straddling_the_window_boundary() {
    // Place a value across the 1 MiB window edge at every offset near it.
    for shift in 0..12 {
        let mut input = String::from(T1);
        input.push_str("INSERT INTO `t` VALUES ");
        let pad = super::scanner::WINDOW - input.len() - 6 + shift;
        input.push_str(&format!("('{}'),", "p".repeat(pad)));
        input.push_str("('a\\'b''c'),(0xABCD),(NULL),(-1.5e-3),(_binary 'z');\n");
        let sink = ok(&input);
        let rows = sink.rows_of("t").unwrap_or_default();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[1][0], t("a'b'c"));
        assert_eq!(rows[2][0], b(&[0xab, 0xcd]));
        assert_eq!(rows[3][0], Value::Null);
        assert_eq!(rows[4][0], t("-1.5e-3"));
        assert_eq!(rows[5][0], b(b"z"));
    }
}
