//! Table definitions of the synthetic clinic, in dump order (alphabetical, as mysqldump writes).

use crate::writer::{CSV_DEFAULT, Col, CsvStyle, TableDef, Ty};

const fn c(name: &'static str, sql: &'static str, ty: Ty) -> Col {
    Col { name, sql, ty }
}
use Ty::{Bin, BinHex, DateText as D, Num as N, Str as S};

const ID: &str = "int NOT NULL AUTO_INCREMENT";
const PID: &str = "int DEFAULT NULL";

pub(crate) const ALLERGIES: TableDef = TableDef {
    name: "allergies",
    cols: &[
        c("allergy_id", ID, N),
        c("patient_id", PID, N),
        c("allergen", "varchar(80) DEFAULT NULL", S),
        c("reaction", "varchar(80) DEFAULT NULL", S),
        c("severity", "varchar(10) DEFAULT NULL", S),
        c("noted_date", "varchar(12) DEFAULT NULL", D),
        c("entered_by", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_allergies_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const APPOINTMENTS: TableDef = TableDef {
    name: "appointments",
    cols: &[
        c("appt_id", ID, N),
        c("patient_id", PID, N),
        c("appt_dt", "datetime DEFAULT NULL", S),
        c("appt_type", "varchar(40) DEFAULT NULL", S),
        c("provider_id", "int DEFAULT NULL", N),
        c("location_id", "int DEFAULT NULL", N),
        c("status", "char(1) DEFAULT NULL", S),
        c("comments", "varchar(255) DEFAULT NULL", S),
    ],
    keys: &[
        ("idx_appt_pat", "`patient_id`"),
        ("idx_appt_dt", "`appt_dt`"),
    ],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const AUDIOGRAMS: TableDef = TableDef {
    name: "audiograms",
    cols: &[
        c("audio_id", ID, N),
        c("patient_id", PID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("test_date", "date DEFAULT NULL", S),
        c("test_type", "varchar(12) DEFAULT NULL", S),
        c("l500", "smallint DEFAULT NULL", N),
        c("l1000", "smallint DEFAULT NULL", N),
        c("l2000", "smallint DEFAULT NULL", N),
        c("l3000", "smallint DEFAULT NULL", N),
        c("l4000", "smallint DEFAULT NULL", N),
        c("l6000", "smallint DEFAULT NULL", N),
        c("l8000", "smallint DEFAULT NULL", N),
        c("r500", "smallint DEFAULT NULL", N),
        c("r1000", "smallint DEFAULT NULL", N),
        c("r2000", "smallint DEFAULT NULL", N),
        c("r3000", "smallint DEFAULT NULL", N),
        c("r4000", "smallint DEFAULT NULL", N),
        c("r6000", "smallint DEFAULT NULL", N),
        c("r8000", "smallint DEFAULT NULL", N),
        c("sts_flag", "char(1) DEFAULT NULL", S),
        c("audiometer_sn", "varchar(20) DEFAULT NULL", S),
        c("device_data", "varbinary(48) DEFAULT NULL", BinHex),
        c("tech_initials", "varchar(4) DEFAULT NULL", S),
    ],
    keys: &[("idx_audio_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const CLINICAL_NOTES: TableDef = TableDef {
    name: "clinical_notes",
    cols: &[
        c("note_id", ID, N),
        c("patient_id", PID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("note_dt", "datetime DEFAULT NULL", S),
        c("note_type", "varchar(20) DEFAULT NULL", S),
        c("author_id", "int DEFAULT NULL", N),
        c("note_text", "mediumtext", S),
        c("signed", "char(1) DEFAULT 'N'", S),
    ],
    keys: &[
        ("idx_notes_pat", "`patient_id`"),
        ("idx_notes_visit", "`visit_id`"),
    ],
    latin1: false,
    csv: CsvStyle {
        ext: "csv",
        delimiter: b',',
        cp1252: false,
        bom: true,
        crlf: true,
    },
};

pub(crate) const DEPARTMENTS: TableDef = TableDef {
    name: "departments",
    cols: &[
        c("dept_id", ID, N),
        c("employer_id", "int NOT NULL", N),
        c("dept_code", "varchar(10) DEFAULT NULL", S),
        c("dept_name", "varchar(60) DEFAULT NULL", S),
        c("cost_center", "varchar(12) DEFAULT NULL", S),
    ],
    keys: &[("idx_dept_emp", "`employer_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const DOCUMENTS: TableDef = TableDef {
    name: "documents",
    cols: &[
        c("doc_id", ID, N),
        c("patient_id", PID, N),
        c("doc_date", "varchar(12) DEFAULT NULL", D),
        c("doc_type", "varchar(30) DEFAULT NULL", S),
        c("file_name", "varchar(255) DEFAULT NULL", S),
        c("mime_type", "varchar(40) DEFAULT NULL", S),
        c("page_count", "int DEFAULT NULL", N),
        c("checksum", "varbinary(16) DEFAULT NULL", Bin),
        c("thumbnail", "blob", Bin),
        c("scanned_by", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_docs_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const DRUG_SCREENS: TableDef = TableDef {
    name: "drug_screens",
    cols: &[
        c("screen_id", ID, N),
        c("patient_id", PID, N),
        c("collected", "varchar(12) DEFAULT NULL", D),
        c("reason", "varchar(20) DEFAULT NULL", S),
        c("panel", "varchar(20) DEFAULT NULL", S),
        c("result", "varchar(12) DEFAULT NULL", S),
        c("mro_reviewed", "char(1) DEFAULT NULL", S),
        c("specimen_id", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_drug_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const EMPLOYERS: TableDef = TableDef {
    name: "employers",
    cols: &[
        c("employer_id", ID, N),
        c("emp_code", "varchar(10) DEFAULT NULL", S),
        c("name", "varchar(100) DEFAULT NULL", S),
        c("address1", "varchar(80) DEFAULT NULL", S),
        c("city", "varchar(40) DEFAULT NULL", S),
        c("state", "char(2) DEFAULT NULL", S),
        c("zip", "varchar(10) DEFAULT NULL", S),
        c("phone", "varchar(20) DEFAULT NULL", S),
        c("contact_name", "varchar(60) DEFAULT NULL", S),
    ],
    keys: &[("idx_emp_code", "`emp_code`")],
    latin1: true,
    csv: CsvStyle {
        ext: "csv",
        delimiter: b',',
        cp1252: true,
        bom: false,
        crlf: true,
    },
};

pub(crate) const IMMUNIZATIONS: TableDef = TableDef {
    name: "immunizations",
    cols: &[
        c("imm_id", ID, N),
        c("patient_id", PID, N),
        c("vaccine_name", "varchar(60) DEFAULT NULL", S),
        c("dose_no", "varchar(5) DEFAULT NULL", S),
        c("date_given", "varchar(12) DEFAULT NULL", D),
        c("lot_no", "varchar(20) DEFAULT NULL", S),
        c("manufacturer", "varchar(40) DEFAULT NULL", S),
        c("site", "varchar(10) DEFAULT NULL", S),
        c("given_by", "varchar(30) DEFAULT NULL", S),
    ],
    keys: &[("idx_imm_pat", "`patient_id`")],
    latin1: false,
    csv: CsvStyle {
        ext: "csv",
        delimiter: b',',
        cp1252: false,
        bom: false,
        crlf: true,
    },
};

pub(crate) const LAB_RESULTS: TableDef = TableDef {
    name: "lab_results",
    cols: &[
        c("result_id", ID, N),
        c("patient_id", PID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("collected_dt", "datetime DEFAULT NULL", S),
        c("test_code", "varchar(12) DEFAULT NULL", S),
        c("test_name", "varchar(60) DEFAULT NULL", S),
        c("result_value", "varchar(20) DEFAULT NULL", S),
        c("units", "varchar(12) DEFAULT NULL", S),
        c("ref_range", "varchar(20) DEFAULT NULL", S),
        c("abnormal_flag", "char(1) DEFAULT NULL", S),
    ],
    keys: &[
        ("idx_lab_pat", "`patient_id`"),
        ("idx_lab_code", "`test_code`"),
    ],
    latin1: false,
    csv: CsvStyle {
        ext: "txt",
        delimiter: b'|',
        cp1252: false,
        bom: false,
        crlf: false,
    },
};

pub(crate) const LOCATIONS: TableDef = TableDef {
    name: "locations",
    cols: &[
        c("location_id", ID, N),
        c("loc_code", "varchar(10) DEFAULT NULL", S),
        c("name", "varchar(60) DEFAULT NULL", S),
        c("address1", "varchar(80) DEFAULT NULL", S),
        c("city", "varchar(40) DEFAULT NULL", S),
        c("state", "char(2) DEFAULT NULL", S),
        c("zip", "varchar(10) DEFAULT NULL", S),
    ],
    keys: &[],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const LOST_TIME: TableDef = TableDef {
    name: "lost_time",
    cols: &[
        c("lt_id", ID, N),
        c("patient_id", PID, N),
        c("injury_date", "varchar(12) DEFAULT NULL", D),
        c("start_date", "varchar(12) DEFAULT NULL", D),
        c("return_date", "varchar(12) DEFAULT NULL", D),
        c("days_lost", "int DEFAULT NULL", N),
        c("osha_recordable", "char(1) DEFAULT NULL", S),
        c("body_part", "varchar(30) DEFAULT NULL", S),
        c("description", "varchar(255) DEFAULT NULL", S),
    ],
    keys: &[("idx_lt_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const MEDICATIONS: TableDef = TableDef {
    name: "medications",
    cols: &[
        c("med_id", ID, N),
        c("patient_id", PID, N),
        c("drug_name", "varchar(80) DEFAULT NULL", S),
        c("strength", "varchar(20) DEFAULT NULL", S),
        c("sig", "varchar(120) DEFAULT NULL", S),
        c("start_date", "date DEFAULT NULL", S),
        c("stop_date", "date DEFAULT NULL", S),
        c("prescriber", "varchar(60) DEFAULT NULL", S),
        c("active", "char(1) DEFAULT NULL", S),
    ],
    keys: &[("idx_med_pat", "`patient_id`")],
    latin1: false,
    csv: CsvStyle {
        ext: "txt",
        delimiter: b'|',
        cp1252: false,
        bom: false,
        crlf: true,
    },
};

pub(crate) const PATIENTS: TableDef = TableDef {
    name: "patients",
    cols: &[
        c("patient_id", ID, N),
        c("mrn", "varchar(12) NOT NULL", S),
        c("ssn", "varchar(11) DEFAULT NULL", S),
        c("emp_no", "varchar(12) DEFAULT NULL", S),
        c("last_name", "varchar(50) DEFAULT NULL", S),
        c("first_name", "varchar(50) DEFAULT NULL", S),
        c("middle_init", "char(1) DEFAULT NULL", S),
        c("dob", "varchar(10) DEFAULT NULL", D),
        c("sex", "char(1) DEFAULT NULL", S),
        c("address1", "varchar(80) DEFAULT NULL", S),
        c("address2", "varchar(80) DEFAULT NULL", S),
        c("city", "varchar(40) DEFAULT NULL", S),
        c("state", "char(2) DEFAULT NULL", S),
        c("zip", "varchar(10) DEFAULT NULL", S),
        c("home_phone", "varchar(20) DEFAULT NULL", S),
        c("work_phone", "varchar(20) DEFAULT NULL", S),
        c("email", "varchar(80) DEFAULT NULL", S),
        c("employer_id", "int DEFAULT NULL", N),
        c("dept_id", "int DEFAULT NULL", N),
        c("location_id", "int DEFAULT NULL", N),
        c("job_title", "varchar(40) DEFAULT NULL", S),
        c("hire_date", "varchar(10) DEFAULT NULL", D),
        c("term_date", "varchar(10) DEFAULT NULL", D),
        c("status", "char(1) DEFAULT 'A'", S),
        c("created_dt", "datetime DEFAULT NULL", S),
        c("modified_dt", "datetime DEFAULT NULL", S),
    ],
    keys: &[
        ("idx_mrn", "`mrn`"),
        ("idx_name", "`last_name`,`first_name`"),
        ("idx_ssn", "`ssn`"),
        ("idx_employer", "`employer_id`"),
    ],
    latin1: false,
    csv: CsvStyle {
        ext: "csv",
        delimiter: b',',
        cp1252: true,
        bom: false,
        crlf: true,
    },
};

pub(crate) const PFT: TableDef = TableDef {
    name: "pft",
    cols: &[
        c("pft_id", ID, N),
        c("patient_id", PID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("test_date", "date DEFAULT NULL", S),
        c("fvc", "decimal(4,2) DEFAULT NULL", N),
        c("fvc_pred", "decimal(4,2) DEFAULT NULL", N),
        c("fvc_pct", "int DEFAULT NULL", N),
        c("fev1", "decimal(4,2) DEFAULT NULL", N),
        c("fev1_pred", "decimal(4,2) DEFAULT NULL", N),
        c("fev1_pct", "int DEFAULT NULL", N),
        c("fev1_fvc", "decimal(5,1) DEFAULT NULL", N),
        c("interpretation", "varchar(60) DEFAULT NULL", S),
        c("tech", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_pft_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const PROBLEMS: TableDef = TableDef {
    name: "problems",
    cols: &[
        c("prob_id", ID, N),
        c("patient_id", PID, N),
        c("dx_code", "varchar(40) DEFAULT NULL", S),
        c("code_system", "varchar(6) DEFAULT NULL", S),
        c("description", "varchar(120) DEFAULT NULL", S),
        c("onset_date", "varchar(12) DEFAULT NULL", D),
        c("status", "varchar(10) DEFAULT NULL", S),
    ],
    keys: &[("idx_prob_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const PROVIDERS: TableDef = TableDef {
    name: "providers",
    cols: &[
        c("provider_id", ID, N),
        c("last_name", "varchar(50) DEFAULT NULL", S),
        c("first_name", "varchar(50) DEFAULT NULL", S),
        c("credentials", "varchar(10) DEFAULT NULL", S),
        c("npi", "char(10) DEFAULT NULL", S),
        c("active", "char(1) DEFAULT 'Y'", S),
    ],
    keys: &[],
    latin1: false,
    csv: CsvStyle {
        ext: "csv",
        delimiter: b',',
        cp1252: true,
        bom: false,
        crlf: false,
    },
};

pub(crate) const RESP_FIT_TESTS: TableDef = TableDef {
    name: "resp_fit_tests",
    cols: &[
        c("fit_id", ID, N),
        c("patient_id", PID, N),
        c("test_date", "varchar(12) DEFAULT NULL", D),
        c("make", "varchar(40) DEFAULT NULL", S),
        c("model", "varchar(30) DEFAULT NULL", S),
        c("size", "varchar(6) DEFAULT NULL", S),
        c("fit_method", "varchar(12) DEFAULT NULL", S),
        c("fit_factor", "int DEFAULT NULL", N),
        c("result", "varchar(6) DEFAULT NULL", S),
        c("agent", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_fit_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const TB_TESTS: TableDef = TableDef {
    name: "tb_tests",
    cols: &[
        c("tb_id", ID, N),
        c("patient_id", PID, N),
        c("test_type", "varchar(10) DEFAULT NULL", S),
        c("date_placed", "varchar(12) DEFAULT NULL", D),
        c("date_read", "varchar(12) DEFAULT NULL", D),
        c("induration_mm", "int DEFAULT NULL", N),
        c("result", "varchar(14) DEFAULT NULL", S),
        c("lot_no", "varchar(20) DEFAULT NULL", S),
        c("site", "varchar(10) DEFAULT NULL", S),
    ],
    keys: &[("idx_tb_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const VISITS: TableDef = TableDef {
    name: "visits",
    cols: &[
        c("visit_id", ID, N),
        c("patient_id", PID, N),
        c("visit_dt", "datetime DEFAULT NULL", S),
        c("visit_type", "varchar(30) DEFAULT NULL", S),
        c("reason", "varchar(120) DEFAULT NULL", S),
        c("provider_id", "int DEFAULT NULL", N),
        c("location_id", "int DEFAULT NULL", N),
        c("status", "varchar(8) DEFAULT NULL", S),
        c("disposition", "varchar(40) DEFAULT NULL", S),
    ],
    keys: &[
        ("idx_visit_pat", "`patient_id`"),
        ("idx_visit_dt", "`visit_dt`"),
    ],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const VISION_TESTS: TableDef = TableDef {
    name: "vision_tests",
    cols: &[
        c("vis_id", ID, N),
        c("patient_id", PID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("test_date", "date DEFAULT NULL", S),
        c("far_od", "varchar(8) DEFAULT NULL", S),
        c("far_os", "varchar(8) DEFAULT NULL", S),
        c("near_ou", "varchar(8) DEFAULT NULL", S),
        c("color_plates", "varchar(8) DEFAULT NULL", S),
        c("corrected", "char(1) DEFAULT NULL", S),
        c("method", "varchar(20) DEFAULT NULL", S),
    ],
    keys: &[("idx_vis_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const VITALS: TableDef = TableDef {
    name: "vitals",
    cols: &[
        c("vital_id", ID, N),
        c("visit_id", "int DEFAULT NULL", N),
        c("patient_id", PID, N),
        c("taken_dt", "datetime DEFAULT NULL", S),
        c("height_in", "decimal(4,1) DEFAULT NULL", N),
        c("weight_lb", "decimal(5,1) DEFAULT NULL", N),
        c("bp_sys", "smallint DEFAULT NULL", N),
        c("bp_dia", "smallint DEFAULT NULL", N),
        c("pulse", "smallint DEFAULT NULL", N),
        c("resp", "smallint DEFAULT NULL", N),
        c("temp_f", "decimal(5,1) DEFAULT NULL", N),
        c("spo2", "smallint DEFAULT NULL", N),
        c("bmi", "decimal(4,1) DEFAULT NULL", N),
    ],
    keys: &[
        ("idx_vitals_visit", "`visit_id`"),
        ("idx_vitals_pat", "`patient_id`"),
    ],
    latin1: false,
    csv: CSV_DEFAULT,
};

pub(crate) const WORK_RESTRICTIONS: TableDef = TableDef {
    name: "work_restrictions",
    cols: &[
        c("restr_id", ID, N),
        c("patient_id", PID, N),
        c("start_date", "varchar(12) DEFAULT NULL", D),
        c("end_date", "varchar(12) DEFAULT NULL", D),
        c("restriction", "varchar(255) DEFAULT NULL", S),
        c("status", "varchar(10) DEFAULT NULL", S),
        c("issued_by", "int DEFAULT NULL", N),
    ],
    keys: &[("idx_restr_pat", "`patient_id`")],
    latin1: false,
    csv: CSV_DEFAULT,
};

/// All tables in dump order.
pub(crate) const TABLES: &[&TableDef] = &[
    &ALLERGIES,
    &APPOINTMENTS,
    &AUDIOGRAMS,
    &CLINICAL_NOTES,
    &DEPARTMENTS,
    &DOCUMENTS,
    &DRUG_SCREENS,
    &EMPLOYERS,
    &IMMUNIZATIONS,
    &LAB_RESULTS,
    &LOCATIONS,
    &LOST_TIME,
    &MEDICATIONS,
    &PATIENTS,
    &PFT,
    &PROBLEMS,
    &PROVIDERS,
    &RESP_FIT_TESTS,
    &TB_TESTS,
    &VISITS,
    &VISION_TESTS,
    &VITALS,
    &WORK_RESTRICTIONS,
];

pub(crate) const TABLE_NAMES: &[&str] = &[
    "allergies",
    "appointments",
    "audiograms",
    "clinical_notes",
    "departments",
    "documents",
    "drug_screens",
    "employers",
    "immunizations",
    "lab_results",
    "locations",
    "lost_time",
    "medications",
    "patients",
    "pft",
    "problems",
    "providers",
    "resp_fit_tests",
    "tb_tests",
    "visits",
    "vision_tests",
    "vitals",
    "work_restrictions",
];

/// The view (dumped as a temporary stand-in table, then the final view at the end).
pub(crate) const VIEW_NAME: &str = "v_patient_visits";
pub(crate) const VIEW_COLS: &[&str] = &[
    "patient_id",
    "mrn",
    "last_name",
    "first_name",
    "visit_id",
    "visit_dt",
    "visit_type",
];
pub(crate) const VIEW_SELECT: &str = "select `p`.`patient_id` AS `patient_id`,`p`.`mrn` AS `mrn`,`p`.`last_name` AS `last_name`,`p`.`first_name` AS `first_name`,`v`.`visit_id` AS `visit_id`,`v`.`visit_dt` AS `visit_dt`,`v`.`visit_type` AS `visit_type` from (`patients` `p` join `visits` `v` on((`v`.`patient_id` = `p`.`patient_id`)))";
/// The trigger, dumped after the `visits` data.
pub(crate) const TRIGGER_NAME: &str = "trg_visits_bi";
pub(crate) const TRIGGER_TABLE: &str = "visits";
pub(crate) const TRIGGER_BODY: &str = "BEFORE INSERT ON `visits` FOR EACH ROW BEGIN\n  IF NEW.status IS NULL OR NEW.status = '' THEN\n    SET NEW.status = 'OPEN';\n  END IF;\nEND";
