using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace VaeWeb.Server.Data.Migrations
{
    /// <summary>
    /// The runs list showed the best test ELBO over all epochs, a choice made on the test set. It now shows the test
    /// ELBO of the checkpoint kept: the last epoch's, or for semi-supervised runs the epoch of the lowest validation
    /// error (the first such epoch, as the recorder keeps it). Recomputed here for every stored run.
    /// </summary>
    public partial class KeptCheckpointTestElbo : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.RenameColumn(
                name: "BestTestElbo",
                table: "Runs",
                newName: "TestElbo");
            migrationBuilder.Sql("""
                UPDATE Runs SET TestElbo = CASE WHEN BestValidationError IS NULL
                    THEN (SELECT m.Value FROM Metrics m WHERE m.RunId = Runs.Id AND m.Scope = 'test' AND m.Name = 'elbo'
                          ORDER BY m.Epoch DESC LIMIT 1)
                    ELSE (SELECT m.Value FROM Metrics m
                          JOIN Metrics v ON v.RunId = m.RunId AND v.Epoch = m.Epoch AND v.Scope = 'validation' AND v.Name = 'error'
                          WHERE m.RunId = Runs.Id AND m.Scope = 'test' AND m.Name = 'elbo' ORDER BY v.Value, m.Epoch LIMIT 1)
                    END
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.RenameColumn(
                name: "TestElbo",
                table: "Runs",
                newName: "BestTestElbo");
        }
    }
}
