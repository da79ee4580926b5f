//! JUnit XML: one test suite per scenario, one test case per checker, so any CI lists them.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::journal::Journal;
use crate::verdict::checkers::Status;
use crate::verdict::Judgement;

/// Renders the runs as one JUnit report.
pub fn render(runs: &[(&Journal, &Judgement)]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("fgchaos");
    for (j, jd) in runs {
        let mut suite = TestSuite::new(j.scenario.name.as_str());
        if let Some(e) = &j.harness_error {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.as_str());
            suite.add_test_case(TestCase::new("harness", s));
        }
        // A stop condition that held is a failure of its own, named for the condition.
        if let Some(a) = &j.aborted {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(crate::verdict::aborted_because(a));
            let mut case = TestCase::new(format!("abort_when.{}", a.condition), s);
            case.set_classname(j.scenario.name.as_str());
            suite.add_test_case(case);
        }
        for f in &jd.findings {
            let status = match f.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(f.summary.as_str());
                    s
                }
                Status::Inconclusive | Status::Fail => {
                    let kind = if f.status == Status::Fail {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut s = TestCaseStatus::non_success(kind);
                    s.set_message(f.summary.as_str());
                    s.set_description(f.counterexamples.join("\n"));
                    s
                }
            };
            let mut case = TestCase::new(f.checker.as_str(), status);
            case.set_classname(j.scenario.name.as_str());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::checkers::tests::{clean, journal, judge_with};
    use crate::verdict::checkers::Finding;

    fn count(xml: &str, tag: &str) -> usize {
        xml.matches(&format!("<{tag}")).count()
    }

    #[test]
    fn one_case_per_checker_with_failures_errors_and_skips() {
        let j = journal("", None);
        let (ops, settled) = clean();
        let passed = judge_with(&j, &ops, settled.clone());
        let checkers = passed.findings.len();
        let skipped = |jd: &Judgement| {
            jd.findings
                .iter()
                .filter(|f| f.status == Status::Skipped)
                .count()
        };
        assert!(checkers >= 5, "{passed:#?}");
        // The finding turned into a skip below must not be one already.
        assert_ne!(passed.findings[2].status, Status::Skipped);

        let mut broken = passed.clone();
        broken.findings[0] = Finding {
            status: Status::Fail,
            counterexamples: vec!["order o9 persisted twice".into()],
            count: 1,
            ..broken.findings[0].clone()
        };
        broken.findings[1].status = Status::Inconclusive;
        broken.findings[2].status = Status::Skipped;
        let mut crashed = j.clone();
        crashed.scenario.name = "crashed".into();
        crashed.harness_error = Some("redis did not start".into());

        let xml = render(&[(&j, &passed), (&j, &broken), (&crashed, &passed)]).unwrap();
        assert_eq!(count(&xml, "testsuite "), 3, "{xml}");
        // Every checker in every suite, plus the crashed run's `harness` case.
        assert_eq!(count(&xml, "testcase "), 3 * checkers + 1, "{xml}");
        assert_eq!(count(&xml, "failure"), 1, "{xml}");
        assert_eq!(count(&xml, "error"), 2, "{xml}");
        assert_eq!(
            count(&xml, "skipped"),
            2 * skipped(&passed) + skipped(&broken),
            "{xml}"
        );
        assert_eq!(skipped(&broken), skipped(&passed) + 1);
        assert!(xml.contains("order o9 persisted twice"), "{xml}");
        assert!(xml.contains("redis did not start"), "{xml}");
        assert!(
            xml.contains(&format!("classname=\"{}\"", j.scenario.name)),
            "{xml}"
        );
    }

    #[test]
    fn an_aborted_run_has_a_failed_case_named_for_its_condition() {
        let mut j = journal("", None);
        let (ops, settled) = clean();
        let jd = judge_with(&j, &ops, settled);
        j.aborted = Some(crate::model::Abort {
            condition: "p99".into(),
            at_ms: 12_300,
            seen: "p99 812.0 ms over the last 5s (1000 answers) (stop when > 500ms)".into(),
            healed_in_ms: Some(41),
        });
        let xml = render(&[(&j, &jd)]).unwrap();
        assert!(xml.contains("name=\"abort_when.p99\""), "{xml}");
        assert!(
            xml.contains("stopped at +12.300s by p99: p99 812.0 ms"),
            "{xml}"
        );
        assert_eq!(count(&xml, "failure"), 1, "{xml}");
    }
}
