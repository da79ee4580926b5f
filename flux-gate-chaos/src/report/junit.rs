//! JUnit XML: one test suite per scenario, one test case per checker, so any CI lists them.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::journal::Journal;
use crate::verdict::checkers::Status;
use crate::verdict::Judgement;

/// Renders the runs as one JUnit report.
pub fn render(runs: &[(&Journal, &Judgement)]) -> Result<String, String> {
    let mut report = Report::new("fgchaos");
    for (j, jd) in runs {
        let mut suite = TestSuite::new(j.scenario.name.as_str());
        if let Some(e) = &j.harness_error {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.as_str());
            suite.add_test_case(TestCase::new("harness", s));
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
    report.to_string().map_err(|e| e.to_string())
}
