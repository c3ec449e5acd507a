package patch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/binder-projects/binder-projects/contract"
)

func TestTheInitContainerIsHandedTheOldestRestoresAndPurgesWithTheTrashDaysAndTheUsageBudget(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)
	restoreA := contract.QueueEntry{Dir: "gh_a_b", QueuedAt: t0}
	restoreC := contract.QueueEntry{Dir: "gh_c_d", QueuedAt: t0.Add(-time.Hour)}
	purgeX := contract.QueueEntry{Dir: "gh_x_y", QueuedAt: t0.Add(time.Nanosecond)}
	atOnce := testConfig()
	atOnce.TrashDays, atOnce.UsageBudget = 0, 0
	longer := initContainerHelperConfig()
	longer.TrashDays, longer.UsageBudget = 30, 1500*time.Millisecond
	// Longer queues than one start is handed, oldest first, as the registry keeps them.
	var manyRestores, manyPurges []contract.QueueEntry
	var restoreNames, purgeNames []string
	for i := range contract.MaxPurgesPerStart + 3 {
		q := contract.QueueEntry{Dir: contract.ProjectDir(fmt.Sprintf("gh_q_%02d", i)), QueuedAt: t0.Add(time.Duration(i) * time.Minute)}
		name := contract.TrashEntryName(contract.TrashID(q), q.Dir)
		if i < contract.MaxRestoresPerStart+3 {
			manyRestores = append(manyRestores, q)
			if i < contract.MaxRestoresPerStart {
				restoreNames = append(restoreNames, name)
			}
		}
		manyPurges = append(manyPurges, q)
		if i < contract.MaxPurgesPerStart {
			purgeNames = append(purgeNames, name)
		}
	}
	for _, tc := range []struct {
		sentence string
		cfg      Config
		reg      Registered        // every restore and purge in it is handed, and recorded on the pod, unless:
		handed   *Registered       // those handed, when not all are
		wantEnv  map[string]string // the trash's and the usage's env; absent: unset
	}{{
		sentence: "with nothing queued, the init container gets the trash days and the usage budget, and the pod records no restores or purges",
		cfg:      testConfig(),
		wantEnv:  map[string]string{contract.EnvTrashDays: "7", contract.EnvUsageBudget: "200"},
	}, {
		sentence: "every queued restore and purge goes to the init container as trash entry names, in queue order, and is recorded on the pod",
		cfg:      testConfig(),
		reg:      Registered{Restores: []contract.QueueEntry{restoreA, restoreC}, Purges: []contract.QueueEntry{purgeX}},
		wantEnv: map[string]string{contract.EnvTrashDays: "7", contract.EnvUsageBudget: "200",
			contract.EnvRestore: "1795168800123456789/gh_a_b 1795165200123456789/gh_c_d",
			contract.EnvPurge:   "1795168800123456790/gh_x_y"},
	}, {
		sentence: "trash days 0 (delete at once) and no usage budget are handed as 0, not left to the init command's defaults",
		cfg:      atOnce,
		reg:      Registered{Purges: []contract.QueueEntry{purgeX}},
		wantEnv: map[string]string{contract.EnvTrashDays: "0", contract.EnvUsageBudget: "0",
			contract.EnvPurge: "1795168800123456790/gh_x_y"},
	}, {
		sentence: "the operator's trash days and usage budget (in milliseconds) are handed in init-container mode too",
		cfg:      longer,
		reg:      Registered{Restores: []contract.QueueEntry{restoreC}},
		wantEnv: map[string]string{contract.EnvTrashDays: "30", contract.EnvUsageBudget: "1500",
			contract.EnvRestore: "1795165200123456789/gh_c_d"},
	}, {
		sentence: "of longer queues only the oldest restores and purges are handed, as many as the report always holds; the others wait for the next launch",
		cfg:      testConfig(),
		reg:      Registered{Restores: manyRestores, Purges: manyPurges},
		handed:   &Registered{Restores: manyRestores[:contract.MaxRestoresPerStart], Purges: manyPurges[:contract.MaxPurgesPerStart]},
		wantEnv: map[string]string{contract.EnvTrashDays: "7", contract.EnvUsageBudget: "200",
			contract.EnvRestore: strings.Join(restoreNames, " "), contract.EnvPurge: strings.Join(purgeNames, " ")},
	}} {
		t.Run(tc.sentence, func(t *testing.T) {
			in := fixture(t, "z2jh4-binderhub-dynamic")
			out, errs := mutate(in, tc.cfg, tc.reg)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			env, _ := initEnv(t, out, tc.cfg.InitContainerName)
			handed := tc.reg
			if tc.handed != nil {
				handed = *tc.handed
			}
			got := map[string]string{}
			for _, name := range []string{contract.EnvTrashDays, contract.EnvUsageBudget, contract.EnvRestore, contract.EnvPurge} {
				if v, ok := env[name]; ok {
					got[name] = v
				}
			}
			if diff := cmp.Diff(tc.wantEnv, got); diff != "" {
				t.Errorf("the init container's env (-want +got):\n%s", diff)
			}
			for _, list := range []struct {
				name string
				read func(map[string]string) ([]contract.QueueEntry, error)
				want []contract.QueueEntry
				env  string
			}{{contract.AnnotationRestores, contract.HandedRestores, handed.Restores, contract.EnvRestore},
				{contract.AnnotationPurges, contract.HandedPurges, handed.Purges, contract.EnvPurge}} {
				handed, err := list.read(out.Annotations)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(list.want, handed); diff != "" {
					t.Errorf("%s (-want +got):\n%s", list.name, diff)
				}
				// The report names the entries by position in the env's list: the same order, entry
				// by entry, as the annotation the controller reads.
				names := strings.Fields(env[list.env])
				for i, q := range handed {
					if id, dir, err := contract.ParseTrashEntryName(names[i]); err != nil || !contract.TrashEntryOf(id, dir).Same(q) {
						t.Errorf("%s[%d] = %q (%v), not the entry %+v recorded at that position", list.env, i, names[i], err, q)
					}
				}
			}
			assertIdempotent(t, out, tc.cfg, tc.reg)
		})
	}
}

func TestConfigValidateBoundsTheTrashDaysAndTheUsageBudget(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		days     int
		budget   time.Duration
		want     []string // in the error; none: valid
	}{
		{sentence: "the defaults are valid", days: 7, budget: 200 * time.Millisecond},
		{sentence: "0 days (delete at once) and no budget are valid", days: 0, budget: 0},
		{sentence: "ten years and a minute are the most", days: 3650, budget: time.Minute},
		{sentence: "negative days are refused, naming --trash-days", days: -1, budget: 0,
			want: []string{"--trash-days=-1 must be 0 (delete at once) to 3650"}},
		{sentence: "more than ten years are refused", days: 3651, budget: 0, want: []string{"--trash-days=3651"}},
		{sentence: "a budget over a minute is refused, naming --usage-budget", days: 7, budget: time.Minute + time.Millisecond,
			want: []string{"--usage-budget=1m0.001s must be whole milliseconds from 0 (measure nothing) to 1m0s"}},
		{sentence: "a negative budget is refused", days: 7, budget: -time.Millisecond, want: []string{"--usage-budget=-1ms"}},
		{sentence: "a budget finer than milliseconds is refused: the init command counts whole milliseconds", days: 7, budget: 1500 * time.Microsecond,
			want: []string{"--usage-budget=1.5ms"}},
		{sentence: "both bad values are reported at once", days: -3, budget: time.Hour, want: []string{"--trash-days=-3", "--usage-budget=1h0m0s"}},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			c := testConfig()
			c.TrashDays, c.UsageBudget = tc.days, tc.budget
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() accepted trash days %d and usage budget %s", tc.days, tc.budget)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestTheDefaultsKeepDeletedProjectsAWeekAndMeasureForTheContractsBudget(t *testing.T) {
	c := DefaultConfig()
	if c.TrashDays != 7 || c.UsageBudget != contract.DefaultUsageBudget*time.Millisecond {
		t.Errorf("defaults: %d trash days, usage budget %s; want 7 and %d ms", c.TrashDays, c.UsageBudget, contract.DefaultUsageBudget)
	}
}
